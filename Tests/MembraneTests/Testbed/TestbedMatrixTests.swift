import Foundation
import Testing
@testable import Membrane

@Suite struct TestbedMatrixTests {
    @Test func everyConceptGetsPromptsThatShowItAndNoOtherErasedConcept() {
        let erased: [TestbedConcept] = [.colour(.red), .shape(.circle), .character(.smiley)]
        let suite = TestbedMatrixSuite(erased: erased, perConcept: 3, seed: 9)
        #expect(suite.prompts.count == 3 * TestbedConcept.all.count)
        #expect(suite == TestbedMatrixSuite(erased: erased, perConcept: 3, seed: 9))
        #expect(Set(suite.prompts.map(\.seed)).count == suite.prompts.count)
        for concept in TestbedConcept.all {
            let prompts = suite.prompts.filter { $0.probe == concept }
            #expect(prompts.count == 3)
            for prompt in prompts {
                #expect(prompt.scene.shows(concept), "\(prompt.text)")
                #expect(concept.words.contains { " \(prompt.text) ".contains(" \($0) ") }, "\(prompt.text) does not name \(concept)")
                for other in erased where other != concept {
                    #expect(!prompt.scene.shows(other), "\(prompt.text) shows \(other)")
                }
            }
        }
    }

    @Test func aColumnKeepsAmongWhatTheBaseDrew() throws {
        let probes: [TestbedConcept] = [.colour(.red), .colour(.red), .colour(.red), .shape(.star), .shape(.star),
                                        .texture(.dotted), .texture(.dotted)]
        let column = TestbedMatrixReport.Column(
            setting: "red", erased: [.colour(.red)], probes: probes,
            baseShows: [true, true, false, true, true, false, false],
            membraneShows: [false, true, true, true, false, true, true])
        #expect(column.cells == [
            .init(concept: .colour(.red), erased: true, shownByBase: 2, kept: 0.5),
            .init(concept: .shape(.star), erased: false, shownByBase: 2, kept: 0.5),
            .init(concept: .texture(.dotted), erased: false, shownByBase: 0, kept: nil),
        ])
        #expect(column.erasure == 0.5 && column.preservation == 0.5)
        let everything = TestbedMatrixReport.Column(setting: "all", erased: [.colour(.red), .shape(.star)], probes: probes,
                                                    baseShows: Array(repeating: true, count: 7),
                                                    membraneShows: [false, false, false, false, false, true, false])
        #expect(everything.erasure == 1 && everything.preservation == 0.5)
        let report = TestbedMatrixReport(columns: [column, everything])
        let table = report.table
        #expect(table.contains("red             ✗  50.0%    ✗   0.0%"), "\(table)")
        #expect(table.contains("star               50.0%    ✗   0.0%"), "\(table)")
        #expect(table.contains("dotted                –        50.0%"), "\(table)")
        #expect(try JSONDecoder().decode(TestbedMatrixReport.self, from: Data(try report.json().utf8)) == report)
    }
}
