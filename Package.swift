// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = []
// The routing path (the bus and the client connections): no run-time exclusivity checks in release builds. Every
// access to a class's stored property paid a check there (5% of the daemon's CPU per message routed,
// docs/BENCHMARK.md); debug builds, which the tests run, keep them. Not on RethinkMessages: the RethinkClient
// library product depends on it, and a package others depend on may not carry unsafe flags.
let routingSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]
let cStubLinking: [LinkerSetting] = [.unsafeFlags(["-static-executable"])]
// The daemon, released: lld, relative relocations packed (DT_RELR, glibc 2.36 and later) and identical code
// folded. Gold left 46,000 relocations (1.1 MiB) that the loader reads at every start and that stayed
// resident, a twentieth of the idle daemon (docs/BENCHMARK.md).
// No dynamic symbol table of its own: the static Swift runtime's link arguments export every symbol of the
// executable, 2.8 MiB of tables the loader searched at every start and that stayed resident; nothing loads
// code that would look them up. The functions are laid out by scripts/link-order/rethink-runtimed.order
// (made by scripts/link-order/generate.sh): what start-up and routing run comes first and together, so the
// pages the daemon touches are 5.3-5.7 MiB of its text, not 10.4 (docs/BENCHMARK.md, "The daemon's pages at idle").
let linkOrder = Context.packageDirectory + "/scripts/link-order/rethink-runtimed.order"
let daemonLinking: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--icf=all",
            "-Xlinker", "--no-export-dynamic", "-Xlinker", "--symbol-ordering-file=" + linkOrder,
            "-Xlinker", "--no-warn-symbol-ordering",
        ],
        .when(configuration: .release))
]

let package = Package(
    name: "rethink-runtimed",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rethink-runtimed", targets: ["rethink-runtimed"]),
        .executable(name: "rethinkctl", targets: ["rethinkctl"]),
        .executable(name: "rethink-bench", targets: ["rethink-bench"]),
        .executable(name: "rethink-echo-stub", targets: ["rethink-echo-stub"]),
        .executable(name: "rethink-spawn-helper", targets: ["rethink-spawn-helper"]),
        .executable(name: "rethink-fetch", targets: ["rethink-fetch"]),
        .library(name: "RethinkClient", targets: ["RethinkClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: C: libseccomp and the fork/exec shim
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        .target(name: "CRethinkSpawn"),
        // journald's native protocol: a sealed memfd and SCM_RIGHTS, which Swift's Glibc does not import.
        .target(name: "CRethinkJournal"),
        // The JSON scan's inner loop over string bytes (SSE2; see its header for why C).
        .target(name: "CRethinkScan"),
        // zlib, for gzip stub archives.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // epoll for the benchmark's fan-out relay (Glibc does not import it).
        .systemLibrary(name: "CEpoll"),

        // MARK: Core modules, one per part of the architecture
        .target(
            name: "RethinkMessages", dependencies: ["CRethinkScan", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .target(
            name: "RethinkJournal",
            dependencies: [
                "CRethinkJournal", "RethinkMessages", .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RethinkSandbox",
            dependencies: ["CSeccomp", "CRethinkSpawn", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Stub packages: tar.gz archives checked entry by entry, SHA-256, Ed25519 signatures. No I/O but unpacking.
        .target(
            name: "RethinkStubPackage",
            dependencies: [
                "CZlib", "RethinkMessages", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RethinkRegistry",
            dependencies: ["RethinkMessages", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RethinkBus",
            dependencies: [
                "RethinkMessages",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: routingSettings
        ),
        // The catalogue: local descriptors, `.well-known` discovery, the HTTPS fetcher, the verified package store.
        .target(
            name: "RethinkCatalogue",
            dependencies: [
                "RethinkMessages", "RethinkSandbox", "RethinkStubPackage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "RethinkFetchWire",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the daemon and rethink-fetch say to each other (one JSON line each way, the body after the reply).
        .target(name: "RethinkFetchWire", swiftSettings: swiftSettings),
        // One HTTPS GET for the network catalogue, run sandboxed by the daemon: the HTTP client and TLS stay
        // out of the daemon's process (and out of its binary and memory).
        .executableTarget(
            name: "rethink-fetch",
            dependencies: [
                "RethinkFetchWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RethinkRuntimeUA",
            dependencies: [
                "RethinkMessages", "RethinkBus", "RethinkRegistry", "RethinkSandbox", "RethinkCatalogue",
                "RethinkStubPackage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // The runtime-local services on the bus: `<runtimeURL>/bus`, `/registry`, `/ua`, `/monitor`.
        .target(
            name: "RethinkServices",
            dependencies: [
                "RethinkMessages", "RethinkBus", "RethinkRegistry", "RethinkRuntimeUA",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RethinkDaemon",
            dependencies: [
                "RethinkMessages", "RethinkBus", "RethinkRegistry", "RethinkRuntimeUA", "RethinkCatalogue", "RethinkServices",
                "RethinkSandbox",
                "RethinkJournal",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: routingSettings
        ),
        .target(
            name: "RethinkClient",
            dependencies: [
                "RethinkMessages",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "rethink-runtimed",
            dependencies: [
                "RethinkDaemon", "RethinkJournal", "RethinkMessages", "RethinkSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            linkerSettings: daemonLinking
        ),
        .executableTarget(
            name: "rethinkctl",
            dependencies: [
                "RethinkClient", "RethinkMessages", "RethinkStubPackage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rethink-bench",
            dependencies: [
                "CEpoll",
                "RethinkMessages",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The C stubs carry no Swift runtime: SwiftPM links every executable through swiftc, whose swiftrt.o
        // would pull in libswiftCore; CStubNoSwiftRuntime answers its two references (see its header).
        // -static-executable: no dynamic loader, no libraries at all (no C++ runtime that swiftc names but nothing
        // uses, nothing from the toolchain's directory, which the sandbox does not grant); a start is then as
        // cheap as the kernel's execve (docs/BENCHMARK.md: the handshake at first contact).
        .target(name: "CStubNoSwiftRuntime"),
        // The native echo stub (C): the benchmark's stub and a model for authors.
        .executableTarget(
            name: "rethink-echo-stub", dependencies: ["CStubNoSwiftRuntime", "CRethinkScan"], linkerSettings: cStubLinking),
        // The spawn helper (C, static): the sandbox's spawner threads exec it, and clone every stub from it.
        .executableTarget(
            name: "rethink-spawn-helper", dependencies: ["CRethinkSpawn", "CStubNoSwiftRuntime"],
            linkerSettings: cStubLinking),
        // Test fixture: a stub that tries every system call the sandbox must refuse.
        .executableTarget(
            name: "rethink-hostile-stub", dependencies: ["CStubNoSwiftRuntime"], path: "Tests/Fixtures/hostile-stub",
            linkerSettings: cStubLinking),
        // Test fixture: a hostile MiniBUS stub in C, deployed by the daemon's attack tests.
        .executableTarget(
            name: "rethink-hostile-native-stub", dependencies: ["CStubNoSwiftRuntime"],
            path: "Tests/Fixtures/hostile-native-stub", linkerSettings: cStubLinking),
        // Test fixture: a fetcher taken over by a hostile server, run by the fetcher isolation tests.
        .executableTarget(
            name: "rethink-hostile-fetcher", dependencies: ["CStubNoSwiftRuntime"],
            path: "Tests/Fixtures/hostile-fetcher", linkerSettings: cStubLinking),

        // MARK: Tests, one target per module
        .testTarget(name: "RethinkMessagesTests", dependencies: ["RethinkMessages"]),
        .testTarget(
            name: "RethinkBusTests",
            dependencies: ["RethinkBus", "RethinkMessages", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "RethinkJournalTests", dependencies: ["RethinkJournal"]),
        .testTarget(name: "RethinkSandboxTests", dependencies: ["RethinkSandbox"]),
        .testTarget(name: "RethinkRegistryTests", dependencies: ["RethinkRegistry", "RethinkMessages"]),
        .testTarget(name: "RethinkStubPackageTests", dependencies: ["RethinkStubPackage"]),
        .testTarget(
            name: "RethinkRuntimeUATests",
            dependencies: ["RethinkRuntimeUA", "RethinkMessages", "RethinkSandbox", "RethinkCatalogue"]),
        .testTarget(
            name: "RethinkClientTests",
            dependencies: [
                "RethinkClient", "RethinkMessages", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "RethinkCatalogueTests",
            dependencies: [
                "RethinkCatalogue", "RethinkMessages", "RethinkSandbox",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // The test kit: a daemon in the test's process, servers and child processes, each stopped (awaited)
        // by `using` when the test ends.
        .target(
            name: "RethinkTestKit",
            dependencies: [
                "RethinkDaemon", "RethinkClient", "RethinkMessages", "RethinkJournal",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/RethinkTestKit"
        ),
        .testTarget(
            name: "RethinkDaemonTests",
            dependencies: [
                "RethinkDaemon", "RethinkClient", "RethinkMessages", "RethinkSandbox", "RethinkStubPackage",
                "RethinkRuntimeUA", "RethinkCatalogue", "RethinkJournal", "RethinkTestKit", "RethinkFetchWire",
            ]
        ),
    ]
)
