// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "eoshare",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "EOShare", targets: ["EOShare"]),
        .library(name: "EOShareServe", targets: ["EOShareServe"]),
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
        .target(
            name: "EOShare",
            dependencies: [
                "CEOShareCurl", "CEOShareZlib", "CEOShareCrypto", "CEOShareSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
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
                "EOShare",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "EOShareTests",
            dependencies: ["EOShare", "EOShareServe"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
