#ifndef RETHINK_NO_SWIFT_RUNTIME_H
#define RETHINK_NO_SWIFT_RUNTIME_H

/*
 * Linked into the C stubs so that they do not carry the Swift runtime.
 *
 * SwiftPM links every executable through swiftc, which adds the toolchain's swiftrt.o. Its
 * constructor registers the image's Swift metadata with the runtime, and the two symbols it
 * needs are the only reason the linker pulls libswiftCore.a (and with it libstdc++, libm and
 * libgcc_s) into a program written in C: 8.7 MB on disk and about 0.8 ms of loading and
 * relocation at every start, which is paid at every first contact. A C program has no Swift
 * metadata, so these definitions do nothing, and the linker then takes nothing from the
 * Swift archives.
 */

void swift_addNewDSOImage(const void *header);
int _swift_backtrace_isThunkFunction(const char *mangledName);

#endif
