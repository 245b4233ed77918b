# Sourced by every script (and the Makefile) that builds the daemon in release: the flags of the build that is
# installed and measured (docs/BENCHMARK.md, "The daemon's pages at idle").
# --static-swift-stdlib: the Swift runtime, Foundation Essentials and Dispatch are linked into the binary, so the
# linker keeps only what is used and can lay it out by the order file in Package.swift; the daemon no longer maps
# libswiftCore's and FoundationEssentials' 8 MiB of touched pages.
# -function-sections (Swift) and -ffunction-sections -fdata-sections (C): one section per function (and datum), so
# that the order file moves functions one by one and not a whole object file's code at once.
release_flags=(--static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcc -fdata-sections)
