// swift-tools-version: 6.0
import Foundation
import PackageDescription

/// A path dependency's identity is its folder's name, whatever the clone is called.
let eoshare = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Benchmarks live in their own package so the product's build stays lean.
let package = Package(
    name: "eoshare-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // What the benchmarks share: resident-memory readings.
        .target(name: "BenchSupport"),
        // The fetch stage against curl over loopback HTTP from nginx: throughput and memory.
        .executableTarget(
            name: "fetch-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ops-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "policy-bench",
            dependencies: [
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "eoshare-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Normalize + write items from the Landsat and Sentinel-2 fixtures vs stactools.
        .executableTarget(
            name: "normalize-bench",
            dependencies: [
                "BenchSupport", .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
            ]
        ),
        // Item Search with wrk: eoshare serve per viewer, and stac-fastapi-pgstac on the same items.
        .executableTarget(
            name: "serve-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareServe", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The unpack stage against gzip -dc and tar xzf, and its memory on a 4 GiB stream.
        .executableTarget(
            name: "unpack-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "EOShareFeedGeneration", package: eoshare),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
