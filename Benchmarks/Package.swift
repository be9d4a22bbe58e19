// swift-tools-version: 6.0
import Foundation
import PackageDescription

/// A path dependency's identity is its folder's name, whatever the clone is called.
let eoshare = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Benchmarks live in their own package so the product's build stays lean.
let package = Package(
    name: "eoshare-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // What both benchmarks measure with: resident memory from /proc.
        .target(name: "BenchSupport"),
        .executableTarget(
            name: "eoshare-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The unpack stage against gzip -dc and tar xzf, and its memory on a 4 GiB stream.
        .executableTarget(
            name: "unpack-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "EOShare", package: eoshare),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
