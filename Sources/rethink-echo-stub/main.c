/*
 * rethink-echo-stub: the native echo protostub, built for throughput.
 *
 * Same behaviour as stubkit/examples/echo_stub.py: after the deploy handshake, every
 * message with an `id` that is not a response gets
 *   {"id":<id>,"type":"response","from":<to>,"to":<from>,
 *    "body":{"code":200,"desc":"echo from <stubURL>","value":<body.value or null>}}
 * Messages without an id, responses and lines that are not a JSON object are skipped.
 * A `delete` to hyperty-runtime://sandbox/internal, or the end of stdin, exits 0.
 *
 * `--raw` turns it into a plain line echo with no handshake: the benchmark's baseline for
 * the cost of the MiniBUS pipes alone.
 *
 * Speed comes from batching: output is buffered and written only when stdin has nothing
 * more to read (poll with a zero timeout) or the buffer is full, so pipelined traffic goes
 * out in large writes. Tokens are copied verbatim, never decoded.
 *
 * Sandbox: uses read, write, poll, brk/mmap/munmap (malloc) and exit_group only; no
 * threads, no signals, no files.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "CRethinkScan.h"

#define MAX_LINE (8u << 20)     /* longest MiniBUS line accepted; longer ones are skipped */
#define READ_CHUNK (256u << 10) /* bytes asked of read() at a time */
#define OUT_CAP (256u << 10)    /* output buffer; pieces larger than this are written directly */
#define MAX_DEPTH 512           /* nesting limit of the JSON scanner */

#define SANDBOX_INTERNAL "hyperty-runtime://sandbox/internal"

/* MARK: output */

static char out_buf[OUT_CAP];
static size_t out_len;

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            /* The runtime closed our stdout (or stderr): nobody is listening any more. */
            _exit(fd == STDOUT_FILENO ? 0 : 1);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void out_flush(void) {
    write_all(STDOUT_FILENO, out_buf, out_len);
    out_len = 0;
}

static void out_put(const char *p, size_t n) {
    if (n > OUT_CAP - out_len) {
        out_flush();
        if (n > OUT_CAP) {
            write_all(STDOUT_FILENO, p, n);
            return;
        }
    }
    memcpy(out_buf + out_len, p, n);
    out_len += n;
}

#define OUT_LIT(s) out_put((s), sizeof(s) - 1)

/* One line on stderr, the stub's journal; `prio` is the sd-daemon(3) priority. */
static void log_line(int prio, const char *text) {
    char line[512];
    int n = snprintf(line, sizeof line, "<%d>rethink-echo-stub: %s\n", prio, text);
    if (n > 0)
        write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* MARK: JSON scanning */

/* A slice of the input line: a raw JSON token, or the inside of a string token. */
typedef struct {
    const char *p;
    size_t n;
} span;

typedef struct {
    const char *p, *end;
} scanner;

static void skip_ws(scanner *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Scans a string token at s->p (on the opening quote); `inner` gets what is between the quotes. */
static int scan_string(scanner *s, span *inner) {
    const char *p = s->p + 1;
    for (;;) {
        const char *q = p;
        /* Sixteen plain bytes at a time (the daemon's own scan); a UTF-8 byte ends a run and is plain here.
         * The byte loop this replaced was half of the stub's CPU on 256-byte bodies (docs/BENCHMARK.md). */
        for (;;) {
            q += rt_json_plain_run((const uint8_t *)q, (size_t)(s->end - q));
            if (q < s->end && (unsigned char)*q >= 0x80)
                q++;
            else
                break;
        }
        if (q >= s->end || (unsigned char)*q < 0x20)
            return 0;
        if (*q == '"') {
            if (inner) {
                inner->p = s->p + 1;
                inner->n = (size_t)(q - inner->p);
            }
            s->p = q + 1;
            return 1;
        }
        if (q + 1 >= s->end)
            return 0;
        switch (q[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p = q + 2;
            break;
        case 'u':
            if (s->end - q < 6 || !is_hex(q[2]) || !is_hex(q[3]) || !is_hex(q[4]) || !is_hex(q[5]))
                return 0;
            p = q + 6;
            break;
        default:
            return 0;
        }
    }
}

static int scan_digits(scanner *s) {
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static int scan_number(scanner *s) {
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!scan_digits(s))
        return 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan_digits(s))
            return 0;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan_digits(s))
            return 0;
    }
    return 1;
}

static int scan_literal(scanner *s, const char *lit, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

/*
 * Key of interest in an object being scanned, and where its value token goes.
 * The caller lists the keys it wants; every other member is validated and skipped.
 */
typedef struct {
    const char *key;
    span *value;
} wanted;

static int scan_value(scanner *s, int depth, const wanted *want, size_t nwant, span *raw);

static int hex_digit(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* The code unit of a validated \uXXXX escape; `p` points at the first hex digit. */
static unsigned hex4(const char *p) {
    return (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 | hex_digit(p[2]) << 4 | hex_digit(p[3]));
}

/*
 * Decodes the inside of a validated string token into `out` if it is short ASCII (the keys
 * and `type` words this stub compares); returns its length, or -1 if it is not.
 */
static int decode_ascii(span in, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == '\\') {
            char e = in.p[++i];
            if (e == 'u') {
                unsigned u = hex4(in.p + i + 1);
                if (u == 0 || u >= 0x80)
                    return -1;
                c = (char)u;
                i += 4;
            } else {
                c = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            }
        }
        if (n >= cap)
            return -1;
        out[n++] = c;
    }
    return (int)n;
}

/* Compares a string token's inside with a plain ASCII key, escapes decoded. */
static int key_equals(span k, const char *key) {
    size_t kn = strlen(key);
    if (memchr(k.p, '\\', k.n) == NULL)
        return k.n == kn && memcmp(k.p, key, kn) == 0;
    char decoded[32];
    int dn = decode_ascii(k, decoded, sizeof decoded);
    return dn == (int)kn && memcmp(decoded, key, kn) == 0;
}

static int scan_object(scanner *s, int depth, const wanted *want, size_t nwant) {
    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        span key;
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"' || !scan_string(s, &key))
            return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return 0;
        s->p++;
        span *dest = NULL;
        for (size_t i = 0; i < nwant; i++)
            if (key_equals(key, want[i].key))
                dest = want[i].value;
        if (!scan_value(s, depth + 1, NULL, 0, dest))
            return 0;
        skip_ws(s);
        if (s->p >= s->end)
            return 0;
        if (*s->p == '}') {
            s->p++;
            return 1;
        }
        if (*s->p++ != ',')
            return 0;
    }
}

static int scan_array(scanner *s, int depth) {
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (!scan_value(s, depth + 1, NULL, 0, NULL))
            return 0;
        skip_ws(s);
        if (s->p >= s->end)
            return 0;
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p++ != ',')
            return 0;
    }
}

/* Validates one JSON value; `raw` (if not NULL) gets its token; `want` applies if it is an object. */
static int scan_value(scanner *s, int depth, const wanted *want, size_t nwant, span *raw) {
    if (depth > MAX_DEPTH)
        return 0;
    skip_ws(s);
    if (s->p >= s->end)
        return 0;
    const char *start = s->p;
    int ok;
    switch (*s->p) {
    case '{': ok = scan_object(s, depth, want, nwant); break;
    case '[': ok = scan_array(s, depth); break;
    case '"': ok = scan_string(s, NULL); break;
    case 't': ok = scan_literal(s, "true", 4); break;
    case 'f': ok = scan_literal(s, "false", 5); break;
    case 'n': ok = scan_literal(s, "null", 4); break;
    default: ok = (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && scan_number(s); break;
    }
    if (ok && raw) {
        raw->p = start;
        raw->n = (size_t)(s->p - start);
    }
    return ok;
}

/* The members of a MiniBUS message this stub looks at, as raw tokens (p == NULL: absent). */
typedef struct {
    span id, type, from, to, body;
    span value, url; /* body.value, body.url */
} message;

static int parse_message(const char *line, size_t n, message *m) {
    memset(m, 0, sizeof *m);
    const wanted top[] = {
        {"id", &m->id}, {"type", &m->type}, {"from", &m->from}, {"to", &m->to}, {"body", &m->body},
    };
    scanner s = {line, line + n};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_value(&s, 0, top, sizeof top / sizeof top[0], NULL))
        return 0;
    skip_ws(&s);
    if (s.p != s.end)
        return 0;
    if (m->body.p && *m->body.p == '{') {
        const wanted inner[] = {{"value", &m->value}, {"url", &m->url}};
        scanner b = {m->body.p, m->body.p + m->body.n};
        scan_value(&b, 1, inner, 2, NULL);
    }
    return 1;
}

static int is_string(span t) { return t.p && *t.p == '"'; }

static span string_inside(span t) { return (span){t.p + 1, t.n - 2}; }

/* Case-insensitive comparison of a string token with a lowercase ASCII word, escapes decoded. */
static int token_is_word(span t, const char *word) {
    if (!is_string(t))
        return 0;
    span in = string_inside(t);
    size_t wn = strlen(word);
    if (memchr(in.p, '\\', in.n) == NULL)
        return in.n == wn && strncasecmp(in.p, word, wn) == 0;
    char decoded[32];
    int dn = decode_ascii(in, decoded, sizeof decoded);
    return dn == (int)wn && strncasecmp(decoded, word, wn) == 0;
}

static int token_is_null(span t) { return t.p == NULL || (t.n == 4 && memcmp(t.p, "null", 4) == 0); }

static void out_token_or_null(span t) {
    if (t.p)
        out_put(t.p, t.n);
    else
        OUT_LIT("null");
}

/* MARK: the stub */

static char *stub_url; /* inside of a JSON string: already escaped */
static size_t stub_url_len;
static int deployed;

/* Copies `text` as the inside of a JSON string. */
static char *json_escape(const char *text, size_t *len) {
    size_t n = strlen(text);
    char *r = malloc(n * 6 + 1), *w = r;
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c < 0x20) {
            w += sprintf(w, "\\u%04x", c);
        } else {
            *w++ = (char)c;
        }
    }
    *len = (size_t)(w - r);
    return r;
}

static void out_status(const char *value) {
    OUT_LIT("{\"type\":\"update\",\"from\":\"");
    out_put(stub_url, stub_url_len);
    OUT_LIT("\",\"to\":\"");
    out_put(stub_url, stub_url_len);
    OUT_LIT("/status\",\"body\":{\"value\":\"");
    out_put(value, strlen(value));
    OUT_LIT("\"}}\n");
}

static void out_response_head(const message *m) {
    OUT_LIT("{\"id\":");
    out_put(m->id.p, m->id.n);
    OUT_LIT(",\"type\":\"response\",\"from\":");
    out_token_or_null(m->to);
    OUT_LIT(",\"to\":");
    out_token_or_null(m->from);
}

static void out_sandbox_response(const message *m, int code, const char *desc) {
    char body[256];
    int n = desc ? snprintf(body, sizeof body, ",\"body\":{\"code\":%d,\"desc\":\"%s\"}}\n", code, desc)
                 : snprintf(body, sizeof body, ",\"body\":{\"code\":%d}}\n", code);
    OUT_LIT("{\"id\":");
    out_token_or_null(m->id);
    OUT_LIT(",\"type\":\"response\",\"from\":\"" SANDBOX_INTERNAL "\",\"to\":\"hyperty-runtime://sandbox/external\"");
    out_put(body, (size_t)n);
}

static void deploy(const message *m) {
    if (deployed) {
        out_sandbox_response(m, 409, "protostub already deployed");
        return;
    }
    if (is_string(m->url) && m->url.n > 2) {
        span in = string_inside(m->url);
        stub_url = malloc(in.n ? in.n : 1);
        if (stub_url)
            memcpy(stub_url, in.p, in.n);
        stub_url_len = in.n;
    } else if (getenv("RETHINK_STUB_URL") && *getenv("RETHINK_STUB_URL")) {
        stub_url = json_escape(getenv("RETHINK_STUB_URL"), &stub_url_len);
    } else {
        out_sandbox_response(m, 500, "deploy message has no body.url and RETHINK_STUB_URL is unset");
        out_flush();
        log_line(3, "deploy message has no body.url and RETHINK_STUB_URL is unset; exiting");
        exit(1);
    }
    if (!stub_url) {
        out_sandbox_response(m, 500, "out of memory");
        out_flush();
        exit(1);
    }
    deployed = 1;
    out_sandbox_response(m, 200, NULL);
    out_status("created");
    out_status("live");
    log_line(6, "deployed");
}

/* Handles one line; returns 0 when the stub must exit. */
static int handle_line(const char *line, size_t n, unsigned long lineno) {
    message m;
    if (!parse_message(line, n, &m)) {
        char text[96];
        snprintf(text, sizeof text, "skipping MiniBUS line %lu: not a JSON object", lineno);
        log_line(4, text);
        return 1;
    }
    if (is_string(m.to) && m.to.n == sizeof(SANDBOX_INTERNAL) + 1 &&
        memcmp(m.to.p + 1, SANDBOX_INTERNAL, m.to.n - 2) == 0) {
        if (token_is_word(m.type, "create")) {
            deploy(&m);
        } else if (token_is_word(m.type, "delete")) {
            log_line(6, "undeployed by the runtime");
            return 0;
        }
        return 1;
    }
    if (token_is_null(m.id) || token_is_word(m.type, "response"))
        return 1;
    if (!deployed) {
        out_response_head(&m);
        OUT_LIT(",\"body\":{\"code\":503,\"desc\":\"protostub not deployed yet\"}}\n");
        return 1;
    }
    out_response_head(&m);
    OUT_LIT(",\"body\":{\"code\":200,\"desc\":\"echo from ");
    out_put(stub_url, stub_url_len);
    OUT_LIT("\",\"value\":");
    out_token_or_null(m.value);
    OUT_LIT("}}\n");
    return 1;
}

/* MARK: input loop */

/* Reads more input; flushes pending output first if the read would block. Returns bytes read, 0 on EOF. */
static size_t read_more(char *buf, size_t room) {
    if (out_len > 0) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r;
        do
            r = poll(&pfd, 1, 0);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            out_flush();
    }
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, room);
        if (n >= 0)
            return (size_t)n;
        if (errno != EINTR && errno != EAGAIN) {
            log_line(3, "reading stdin failed; exiting");
            return 0;
        }
    }
}

int main(int argc, char **argv) {
    int raw = argc > 1 && strcmp(argv[1], "--raw") == 0;
    if (argc > 1 && !raw) {
        static const char usage[] = "usage: rethink-echo-stub [--raw]\n"
                                    "  a protostub: run by rethink-runtimed, which speaks the MiniBUS on stdin/stdout\n"
                                    "  --raw  echo each stdin line unchanged (no handshake): a throughput baseline\n";
        write_all(STDERR_FILENO, usage, sizeof usage - 1);
        return 2;
    }
    size_t cap = MAX_LINE + READ_CHUNK;
    char *buf = malloc(cap);
    if (!buf) {
        log_line(3, "cannot allocate the input buffer; exiting");
        return 1;
    }
    size_t start = 0, end = 0; /* unprocessed input is buf[start, end) */
    int discarding = 0;        /* inside a line longer than MAX_LINE */
    unsigned long lineno = 0;
    for (;;) {
        if (start > 0 && (cap - end < READ_CHUNK)) {
            memmove(buf, buf + start, end - start);
            end -= start;
            start = 0;
        }
        size_t room = cap - end < READ_CHUNK ? cap - end : READ_CHUNK;
        size_t got = read_more(buf + end, room);
        if (got == 0)
            break;
        size_t scan_from = end;
        end += got;
        for (;;) {
            char *nl = memchr(buf + scan_from, '\n', end - scan_from);
            if (!nl)
                break;
            size_t stop = (size_t)(nl - buf);
            if (discarding) {
                discarding = 0;
            } else if (raw) {
                out_put(buf + start, stop + 1 - start);
            } else {
                lineno++;
                size_t len = stop - start;
                const char *p = buf + start;
                while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r'))
                    p++, len--;
                if (len > 0 && !handle_line(p, len, lineno)) {
                    out_flush();
                    free(buf);
                    return 0;
                }
            }
            start = scan_from = stop + 1;
        }
        if (discarding) {
            start = end = 0;
        } else if (end - start > MAX_LINE) {
            char text[96];
            snprintf(text, sizeof text, "skipping MiniBUS line %lu: longer than %u bytes", ++lineno, MAX_LINE);
            log_line(4, text);
            discarding = 1;
            start = end = 0;
        }
        if (start == end)
            start = end = 0;
        if (out_len > OUT_CAP / 2)
            out_flush();
    }
    if (end > start && !discarding) {
        if (raw)
            out_put(buf + start, end - start);
        else
            handle_line(buf + start, end - start, ++lineno);
    }
    out_flush();
    free(buf);
    return 0;
}
