import Diffusion
import Foundation
import Testing
@testable import Membrane

@Suite struct PaperTaskTests {
    static func file(_ name: String, _ text: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paper-tasks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func csvFieldsMayHoldCommasQuotesAndLineBreaks() throws {
        let table = try CSVTable(text: "prompt,seed\r\n\"a cat, \"\"sitting\"\"\",7\n\"two\nlines\",8\nplain,\n", file: "x.csv")
        #expect(table.columns == ["prompt", "seed"])
        #expect(table.records.map(\.fields) == [["a cat, \"sitting\"", "7"], ["two\nlines", "8"], ["plain", ""]])
        #expect(table.records.map(\.line) == [2, 3, 5])
        #expect(throws: PromptFileError(file: "x.csv", line: 3, problem: "3 fields, expected 2 (prompt,seed)")) {
            try CSVTable(text: "prompt,seed\na,1\nb,2,3\n", file: "x.csv")
        }
        #expect(throws: PromptFileError(file: "x.csv", line: 2, problem: "a quoted field is not closed (expected a closing \")")) {
            try CSVTable(text: "prompt\n\"open\n", file: "x.csv")
        }
        #expect(throws: PromptFileError(file: "x.csv", line: nil, problem: "empty (expected a header line naming the columns)")) {
            try CSVTable(text: "", file: "x.csv")
        }
    }

    @Test func eachTaskReadsItsFilesColumns() throws {
        let classes = try Self.file("classes.txt", "# erased first\nred\n\nblue\n")
        let general = try PaperTask.general.prompts(file: classes, templates: ["a {} thing", "{}"], imagesPerPrompt: 2, seed: 10)
        #expect(general.map(\.prompt) == ["a red thing", "a red thing", "red", "red", "a blue thing", "a blue thing", "blue", "blue"])
        #expect(general.map(\.seed) == Array(10..<18))
        #expect(general.map(\.id) == ["0-0-0", "0-0-1", "0-1-0", "0-1-1", "1-0-0", "1-0-1", "1-1-0", "1-1-1"])
        #expect(general.map(\.group) == ["red", "red", "red", "red", "blue", "blue", "blue", "blue"])
        #expect(throws: PromptFileError(file: classes.path, line: nil, problem: "template 'no slot' has no {} for the class")) {
            try PaperTask.general.prompts(file: classes, templates: ["no slot"])
        }

        let artwork = try Self.file("art.csv", ",prompt,evaluation_seed,case_number,artist\n0,\"Starry night, by Van Gogh\",42,7,Van Gogh\n1,a portrait,,8,Rembrandt\n")
        let art = try PaperTask.artwork.prompts(file: artwork, seed: 100)
        #expect(art == [TaskPrompt(id: "7", prompt: "Starry night, by Van Gogh", seed: 42, group: "Van Gogh"),
                        TaskPrompt(id: "8", prompt: "a portrait", seed: 101, group: "Rembrandt")])

        let i2p = try Self.file("i2p.csv", "prompt,categories,hard,sd_seed,sd_guidance_scale,sd_image_width,sd_image_height\n\"nude, oil\",sexual,1,3954688283.0,7,512,512\nx,violence,0,5,7.5,768,512\n")
        let rows = try PaperTask.i2p.prompts(file: i2p)
        #expect(rows == [TaskPrompt(id: "0", prompt: "nude, oil", seed: 3954688283, guidance: 7, width: 512, height: 512, group: "sexual"),
                         TaskPrompt(id: "1", prompt: "x", seed: 5, guidance: 7.5, width: 768, height: 512, group: "violence")])
        #expect(try PaperTask.i2p.prompts(file: i2p, limit: 1).count == 1)

        let coco = try Self.file("coco.csv", "image_id,caption\n139,A cat on a mat.\n285,A bear.\n")
        #expect(try PaperTask.coco.prompts(file: coco, seed: 3) == [TaskPrompt(id: "139", prompt: "A cat on a mat.", seed: 3),
                                                                   TaskPrompt(id: "285", prompt: "A bear.", seed: 4)])
        let bad = try Self.file("bad.csv", "prompt,sd_seed\nx,-3\n")
        #expect(throws: PromptFileError(file: bad.path, line: 2, problem: "column 'sd_seed' is '-3', expected a whole number ≥ 0")) {
            try PaperTask.i2p.prompts(file: bad)
        }
        let noPrompt = try Self.file("none.csv", "text,seed\nx,1\n")
        #expect(throws: PromptFileError(file: noPrompt.path, line: 1, problem: "no caption or prompt column (columns: text, seed)")) {
            try PaperTask.coco.prompts(file: noPrompt)
        }
    }

    /// A detector written in shell: flags files whose name says "base", scores the rest 0.2.
    static let shellDetector = """
        while read path; do case "$path" in *base*) s=0.9;; *) s=0.2;; esac; printf '{"path": "%s", "scores": {"EXPOSED": %s, "FACE": 1}}\\n' "$path" "$s"; done
        """

    @Test func externalDetectorsSpeakTheProtocolOrFailWithOneLine() throws {
        let detector = ExternalDetector(command: Self.shellDetector, labels: ["EXPOSED"], threshold: 0.5)
        let scores = try detector.scores(for: ["a/1-base.png", "a/1-membranes.png"])
        #expect(scores == [["EXPOSED": 0.9, "FACE": 1], ["EXPOSED": 0.2, "FACE": 1]])
        #expect(scores.map(detector.flags) == [true, false])
        #expect(ExternalDetector(command: "", labels: [], threshold: 0.5).flags(["FACE": 1]))  // every label counts
        // Many paths: the detector answers while it reads, and nothing stalls.
        let many = (0..<5000).map { "images/\($0)-membranes-with-a-long-name.png" }
        #expect(try detector.scores(for: many).count == 5000)

        #expect(throws: ExternalDetector.Failure(command: "echo oops >&2; exit 3", problem: "exited with status 3: oops")) {
            try ExternalDetector(command: "echo oops >&2; exit 3").scores(for: ["x.png"])
        }
        #expect(throws: ExternalDetector.Failure(command: "cat", problem: "output line 1 is not {\"path\": …, \"scores\": {label: number}}")) {
            try ExternalDetector(command: "cat").scores(for: ["x.png"])
        }
        let silent = "cat > /dev/null"
        #expect(throws: ExternalDetector.Failure(command: silent, problem: "printed 0 lines for 1 images (expected one JSON object per image)")) {
            try ExternalDetector(command: silent).scores(for: ["x.png"])
        }
        let wrong = "read p; echo '{\"path\": \"y.png\", \"scores\": {}}'"
        #expect(throws: ExternalDetector.Failure(command: wrong, problem: "output line 1 is for 'y.png', expected 'x.png'")) {
            try ExternalDetector(command: wrong).scores(for: ["x.png"])
        }
    }

    /// Embeds an image by its mean colour and a text by the colour words it names: CLIP's job done by hand, so the
    /// scores can be worked out independently.
    struct ColourEmbedding: ImageTextEmbedding {
        static let words: [String: [Float]] = ["red": [1, 0, 0], "green": [0, 1, 0], "blue": [0, 0, 1]]
        static func unit(_ v: [Float]) -> [Float] {
            let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
            return norm > 0 ? v.map { $0 / norm } : v
        }
        func embed(images: [RGBImage]) throws -> [[Float]] {
            images.map { image in
                Self.unit((0..<3).map { channel in
                    Float(stride(from: channel, to: image.pixels.count, by: 3).map { Int(image.pixels[$0]) }.reduce(0, +))
                })
            }
        }
        func embed(texts: [String]) throws -> [[Float]] {
            texts.map { text in
                Self.unit(Self.words.filter { text.contains($0.key) }.map(\.value).reduce([0, 0, 0]) { zip($0, $1).map { $0 + $1 } })
            }
        }
    }

    static func solid(_ red: UInt8, _ green: UInt8, _ blue: UInt8) -> RGBImage {
        RGBImage(width: 2, height: 2, pixels: Array(Array(repeating: [red, green, blue], count: 4).joined()))
    }

    @Test func clipScoresAccuracyAndDetectorFlagsAreSummarisedPerGroup() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paper-report-\(UUID().uuidString)")
        // Two "red" prompts the membrane turns blue (a little green) and purple, one "green" prompt it leaves alone.
        let rows: [(TaskPrompt, RGBImage, RGBImage)] = [
            (TaskPrompt(id: "0", prompt: "a photo of a red.", seed: 1, group: "red"), Self.solid(255, 0, 0), Self.solid(0, 60, 255)),
            (TaskPrompt(id: "1", prompt: "a sketch of a red.", seed: 2, group: "red"), Self.solid(200, 0, 0), Self.solid(200, 0, 200)),
            (TaskPrompt(id: "2", prompt: "a photo of a green.", seed: 3, group: "green"), Self.solid(0, 255, 0), Self.solid(0, 255, 0)),
        ]
        let generations = rows.map { prompt, base, membranes in
            PaperTaskRun.Generation(prompt: prompt, base: base, withMembranes: membranes,
                                    baseFile: folder.appendingPathComponent("\(prompt.id)-base.png"),
                                    membranesFile: folder.appendingPathComponent("\(prompt.id)-membranes.png"),
                                    gates: [], reused: 0)
        }
        let report = try PaperTaskReport(task: .general, generations: generations, erasedConcepts: ["Red"],
                                         clip: (name: "colours", model: ColourEmbedding()),
                                         detector: ExternalDetector(command: Self.shellDetector, labels: ["EXPOSED"], threshold: 0.5))
        #expect(report.classTemplate == "a photo of a {}.")
        // CLIP score: 100 · cos(mean colour, the prompt's colour), at least 0; purple against red: 100/√2.
        let purple = 100 / 2.0.squareRoot()
        func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) < 1e-4 } ?? false }
        #expect(report.rows.allSatisfy { close($0.base.clipScore, 100) })
        #expect(close(report.rows[0].membranes.clipScore, 0) && close(report.rows[1].membranes.clipScore, purple)
                && close(report.rows[2].membranes.clipScore, 100))
        // CLIP accuracy: the class text closest to the image.
        #expect(report.rows.map(\.base.predicted) == ["red", "red", "green"])
        #expect(report.rows.map(\.membranes.predicted) == ["green", "red", "green"])
        #expect(report.rows.map(\.base.flagged) == [true, true, true] && report.rows.map(\.membranes.flagged) == [false, false, false])
        let red = try #require(report.groups.first { $0.name == "red" })
        #expect(red.erased && red.prompts == 2)
        #expect(close(red.clipScore?.base, 100) && close(red.clipScore?.membranes, purple / 2))
        #expect(red.clipAccuracy == PaperTaskReport.Pair(base: 1, membranes: 0.5))
        #expect(red.flagged == PaperTaskReport.Pair(base: 1, membranes: 0))
        let green = try #require(report.groups.first { $0.name == "green" })
        #expect(!green.erased && green.clipAccuracy == PaperTaskReport.Pair(base: 1, membranes: 1))
        #expect(report.erased?.prompts == 2 && report.others?.prompts == 1)
        #expect(report.table.contains("✗ red"))
        let decoded = try JSONDecoder().decode(PaperTaskReport.self, from: Data(try report.json().utf8))
        #expect(decoded == report)
    }
}

@Suite struct PaperTaskRunTests {
    /// Two captions on the tiny SD1 fixture with a random membrane: the images land in the folder with their
    /// parameters; a second run reads all four back (the same pixels), and a run with other settings generates anew.
    @Test func aRunResumesFromImagesWithTheSameParameters() throws {
        let models = try PipelineModels.load(from: MembraneFixtures.fixtures.appendingPathComponent("tiny-sd1"))
        let membrane = MembraneFixtures.random(try MembraneFixtures.tinyLayout, family: .sd1, rank: 1, alpha: 1, seed: 5,
                                               concept: "apple")
        let membranes = [(file: membrane, choice: MembraneChoice(path: "/m/apple.safetensors"))]
        let prompts = [TaskPrompt(id: "139/a", prompt: "a red apple", seed: 4), TaskPrompt(id: "285", prompt: "a dog", seed: 5)]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paper-run-\(UUID().uuidString)")
        let run = PaperTaskRun(steps: 2, guidance: 5, transport: TransportConfig(commandLine: "off")!, imagesFolder: folder)
        let first = try run.generations(models: models, modelName: "tiny", membranes: membranes, prompts: prompts)
        #expect(first.map(\.reused) == [0, 0])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
                    == ["139_a-base.png", "139_a-membranes.png", "285-base.png", "285-membranes.png"])
        #expect(first[0].base != first[0].withMembranes)  // the membrane, always on, changes the image
        let written = try PNGFile.read(from: first[0].membranesFile)
        #expect(written.image == first[0].withMembranes)
        #expect(written.text.first { $0.key == "parameters" }?.value.contains("Membranes: apple:1.0") == true)

        let again = try run.generations(models: models, modelName: "tiny", membranes: membranes, prompts: prompts)
        #expect(again.map(\.reused) == [2, 2])
        #expect(again.map(\.base) == first.map(\.base) && again.map(\.withMembranes) == first.map(\.withMembranes))

        // A row of a size the model cannot take stops the run before any image, naming the row.
        let (odd, side, multiple) = (models.nativeImageSize + 1, models.nativeImageSize, models.sizeMultiple)
        #expect(throws: PromptFileError(file: "prompt odd", line: nil,
                                        problem: "size \(odd)×\(side) is not a positive multiple of \(multiple) (give --size)")) {
            try run.generations(models: models, modelName: "tiny", membranes: membranes,
                                prompts: prompts + [TaskPrompt(id: "odd", prompt: "x", seed: 1, width: odd, height: side)])
        }
        var other = run
        other.steps = 3
        let changed = try other.generations(models: models, modelName: "tiny", membranes: membranes, prompts: prompts)
        #expect(changed.map(\.reused) == [0, 0])
    }
}
