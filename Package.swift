// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "eoshare",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "EOShare", targets: ["EOShare"]),
        .library(name: "EOShareServe", targets: ["EOShareServe"]),
        .library(name: "EOShareFeedGeneration", targets: ["EOShareFeedGeneration"]),
        .executable(name: "eoshare", targets: ["eoshare"]),
        .executable(name: "eoshare-feedgen", targets: ["eoshare-feedgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C libraries behind project-prefixed system-library targets (module names are global).
        .systemLibrary(
            name: "CEOShareCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CEOShareZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CEOShareCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // System calls Swift's Glibc module lacks (getdents64); a header only.
        .systemLibrary(name: "CEOShareSystem"),
        // One target per stage, so the compiler holds the chain's direction (README, "The house").
        .target(
            name: "EOShareCore",
            dependencies: [
                "CEOShareCrypto", "CEOShareSystem", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "EOShareEmbargo", dependencies: ["EOShareCore"]),
        .target(
            name: "EOShareState",
            dependencies: [
                "EOShareCore", "EOShareEmbargo",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "EOShareFetch",
            dependencies: [
                "EOShareCore", "EOShareState", "CEOShareCurl", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "EOShareUnpack", dependencies: ["EOShareCore", "EOShareFetch", "CEOShareZlib"]),
        .target(name: "EOShareNormalize", dependencies: ["EOShareCore", "EOShareFetch", "EOShareUnpack"]),
        .target(
            name: "EOSharePublish",
            dependencies: [
                "EOShareCore", "EOShareEmbargo", "EOShareState", "EOShareFetch", "EOShareNormalize",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "EOShareOperations",
            dependencies: [
                "EOShareCore", "EOShareEmbargo", "EOShareState", "EOShareUnpack", "EOSharePublish",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(name: "EOShareFeedGeneration", dependencies: ["EOShareCore", "EOShareUnpack"]),
        // The stage chain (IngestRun) and the product's face: re-exports every stage.
        .target(
            name: "EOShare",
            dependencies: [
                "EOShareCore", "EOShareEmbargo", "EOShareState", "EOShareFetch", "EOShareUnpack", "EOShareNormalize",
                "EOSharePublish", "EOShareOperations",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // The read-only STAC API per member (`eoshare serve`), on Hummingbird.
        .target(
            name: "EOShareServe",
            dependencies: [
                "EOShare",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "eoshare",
            dependencies: [
                "EOShare", "EOShareServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "eoshare-feedgen",
            dependencies: [
                "EOShareFeedGeneration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "EOShareTests",
            dependencies: [
                "EOShare", "EOShareFeedGeneration", "EOShareServe",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
