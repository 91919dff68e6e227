// swift-tools-version:6.0
import PackageDescription

// Module graph (no cycles; see docs/ARCHITECTURE.md):
//   JSON ─┬─> SafeTensors ─┐
//         │   CKernels ────┼─> Engine ─┐
//         │   COpenBLAS ───┤           │
//         │   CNuma ───────┘           ├─> Server ─> glmserve
//         ├─> Tokenizer ───────────────┤
//         ├─> Chat ────────────────────┤
//         └─> Structured ──────────────┤
//             HTTP ────────────────────┘
let package = Package(
    name: "GLMServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "glmserve", targets: ["glmserve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNuma", path: "Sources/CNuma", pkgConfig: "numa",
                       providers: [.apt(["libnuma-dev"])]),
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "SafeTensors", dependencies: ["JSON"]),
        .target(name: "Engine", dependencies: ["SafeTensors", "CKernels", "COpenBLAS", "CNuma"]),
        .target(name: "JSON"),
        .target(name: "Tokenizer", dependencies: ["JSON"]),
        .target(name: "Chat", dependencies: ["JSON"]),
        .target(name: "Structured", dependencies: ["JSON"]),
        .target(name: "HTTP"),
        .target(name: "Server", dependencies: ["Engine", "Tokenizer", "Chat", "Structured", "JSON", "HTTP"]),
        .executableTarget(name: "glmserve", dependencies: [
            "Server", "Engine", "SafeTensors", "Tokenizer", "Chat", "Structured", "JSON",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "SafeTensors", "Tokenizer", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "JSON"]),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "JSON", "TestSupport"]),
        .testTarget(name: "StructuredTests", dependencies: ["Structured", "JSON", "TestSupport"]),
        // Test helpers shared by the HTTP and Server tests (a raw-socket HTTP client).
        .target(name: "TestSupport", dependencies: ["JSON"], path: "Tests/TestSupport"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Engine", "Chat", "Tokenizer", "JSON", "HTTP",
                                                        "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
