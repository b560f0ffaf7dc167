import Testing
@testable import Membrane

@Suite struct ModelFamilyTests {
    @Test func sdxlDerivedFamiliesShareSDXLMetadata() {
        for family in [ModelFamily.sdxl, .pony, .illustrious] {
            #expect(family.isSDXLArchitecture)
            #expect(family.kohyaBaseModelVersion == "sdxl_base_v1-0")
        }
        #expect(ModelFamily.sd1.kohyaBaseModelVersion == "sd_v1")
        #expect(ModelFamily.sd2.kohyaBaseModelVersion == "sd_v2")
        #expect(!ModelFamily.testbed.isSDXLArchitecture)
    }
}
