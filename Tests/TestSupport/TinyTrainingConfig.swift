import Foundation

/// The training config the command-line and workbench tests share: a membrane for "a red apple" on the tiny SD1
/// fixture at 16 px (a few cheap steps), writing its files beside the config.
public enum TinyTrainingConfig {
    public static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/tiny-sd1").standardizedFileURL.path

    /// Writes the config as YAML to `url` (creating its folder) and returns `url`.
    public static func write(to url: URL, iterations: Int, checkpointEvery: Int, anchorWeight: Double? = nil) throws -> URL {
        let folder = url.deletingLastPathComponent()
        let yaml = """
            model:
              path: \(model)
              family: sd1
            concepts:
              - target: a red apple
                anchors_per_step: 2
            \(anchorWeight.map { "    anchor_weight: \($0)\n" } ?? "")train:
              iterations: \(iterations)
              learning_rate: 1.0e-2
              warmup_steps: 2
              resolution: 16
              denoise_steps: 8
              seed: 3
            save:
              output: \(folder.path)
              every: \(checkpointEvery)
            """
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}
