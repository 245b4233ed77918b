/* Why these exist: see include/NoSwiftRuntime.h. */
#include "NoSwiftRuntime.h"

void swift_addNewDSOImage(const void *header) { (void)header; }

int _swift_backtrace_isThunkFunction(const char *mangledName) {
    (void)mangledName;
    return 0;
}
