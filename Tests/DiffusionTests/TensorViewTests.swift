import Testing
@testable import Diffusion

@Suite struct TensorViewTests {
    @Test func constructionAndReadingBack() {
        let tensor = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(tensor.toArray() == [1, 2, 3, 4, 5, 6])
        #expect(tensor.strides == [3, 1] && tensor.offset == 0 && tensor.isContiguous)
        #expect(tensor[1, 0] == 4 && tensor[0, 2] == 3)
        #expect(Tensor.zeros([2, 2]).toArray() == [0, 0, 0, 0])
        #expect(Tensor.ones([3]).toArray() == [1, 1, 1])
        #expect(Tensor.full([1, 2], value: 7).toArray() == [7, 7])
        let scalar = Tensor(scalar: 2.5)
        #expect(scalar.shape == [] && scalar.elementCount == 1 && scalar.scalarValue == 2.5)
        #expect(Tensor.zeros([2, 0, 3]).toArray().isEmpty)
    }

    @Test func buildsFromForeignBuffers() {
        let values: [Float] = [0.5, -1, 2, 8]
        let copied = values.withUnsafeBufferPointer { Tensor(shape: [2, 2], copying: $0) }
        #expect(copied.toArray() == values)
        let filled = Tensor(shape: [4]) { buffer in
            for i in buffer.indices { buffer[i] = Float(i) * 2 }
        }
        #expect(filled.toArray() == [0, 2, 4, 6])
    }

    @Test func viewsShareStorageAndReadTheRightElements() {
        let base = randomTensor([2, 3, 4], seed: 1)
        let values = naiveValues(base)
        func original(_ i: Int, _ j: Int, _ k: Int) -> Double { values[(i * 3 + j) * 4 + k] }

        let permuted = base.permuted([2, 0, 1])
        #expect(permuted.shape == [4, 2, 3] && permuted.storage === base.storage && !permuted.isContiguous)
        for index in allIndices(permuted.shape) {
            #expect(Double(permuted.element(at: index)) == original(index[1], index[2], index[0]))
        }
        let transposed = base.transposed()
        #expect(transposed.shape == [2, 4, 3] && Double(transposed[1, 3, 2]) == original(1, 2, 3))
        let swapped = base.transposed(0, -1)
        #expect(swapped.shape == [4, 3, 2] && Double(swapped[3, 1, 0]) == original(0, 1, 3))

        let narrowed = base.narrowed(axis: 1, start: 1, length: 2)
        #expect(narrowed.shape == [2, 2, 4] && narrowed.storage === base.storage)
        for index in allIndices(narrowed.shape) {
            #expect(Double(narrowed.element(at: index)) == original(index[0], index[1] + 1, index[2]))
        }
        let sliced = base.sliced(axis: -1, 1..<4, step: 2)
        #expect(sliced.shape == [2, 3, 2])
        for index in allIndices(sliced.shape) {
            #expect(Double(sliced.element(at: index)) == original(index[0], index[1], 1 + 2 * index[2]))
        }

        let column = base.narrowed(axis: 2, start: 0, length: 1)
        let expanded = column.expanded(to: [5, 2, 3, 4])
        #expect(expanded.strides[0] == 0 && expanded.strides[3] == 0 && expanded.storage === base.storage)
        for index in allIndices(expanded.shape) {
            #expect(Double(expanded.element(at: index)) == original(index[1], index[2], 0))
        }

        let unsqueezed = base.unsqueezed(axis: 1)
        #expect(unsqueezed.shape == [2, 1, 3, 4] && unsqueezed.isContiguous)
        #expect(base.unsqueezed(axis: -1).shape == [2, 3, 4, 1])
        #expect(unsqueezed.squeezed(axis: 1).shape == [2, 3, 4])
        #expect(Double(unsqueezed[1, 0, 2, 3]) == original(1, 2, 3))
    }

    @Test func contiguousCopiesMatchElementwiseReads() {
        let base = randomTensor([3, 4, 5, 2], seed: 2)
        let views = [
            base.permuted([3, 1, 0, 2]),
            base.transposed(1, 2).narrowed(axis: 0, start: 1, length: 2),
            base.sliced(axis: 2, 0..<5, step: 2).permuted([0, 2, 1, 3]),
            base.narrowed(axis: 3, start: 1, length: 1).expanded(to: [2, 3, 4, 5, 3]),
            base.narrowed(axis: 0, start: 2, length: 1),
        ]
        for view in views {
            let dense = view.contiguous()
            #expect(dense.isContiguous && dense.shape == view.shape)
            #expect(dense.toArray().map(Double.init) == naiveValues(view), "view \(view.shape) \(view.strides)")
        }
        #expect(base.contiguous().storage === base.storage, "a contiguous tensor is returned as is")
    }

    @Test func reshapeIsAViewOfContiguousAndACopyOtherwise() {
        let base = randomTensor([4, 6], seed: 3)
        let reshaped = base.reshaped([2, -1, 3])
        #expect(reshaped.shape == [2, 4, 3] && reshaped.storage === base.storage)
        #expect(reshaped.toArray() == base.toArray())
        let transposed = base.transposed()
        let flattened = transposed.reshaped([24])
        #expect(flattened.storage !== base.storage)
        #expect(flattened.toArray().map(Double.init) == naiveValues(transposed))
        #expect(base.flattened().shape == [24])
        // A narrowed leading axis stays dense, so reshape keeps the offset into shared storage.
        let rows = base.narrowed(axis: 0, start: 2, length: 2).reshaped([3, 4])
        #expect(rows.storage === base.storage && rows.toArray() == Array(base.toArray()[12...]))
    }

    @Test func contiguityIgnoresSizeOneAxes() {
        #expect(Tensor.zeros([3, 1, 4]).permuted([1, 0, 2]).isContiguous)
        #expect(!Tensor.zeros([3, 4]).transposed().isContiguous)
        #expect(Tensor.zeros([3, 4]).narrowed(axis: 0, start: 1, length: 2).isContiguous)
        #expect(!Tensor.zeros([3, 4]).narrowed(axis: 1, start: 1, length: 2).isContiguous)
        #expect(!Tensor.zeros([1, 4]).expanded(to: [3, 4]).isContiguous)
    }

    @Test func writesAreCopyOnWrite() {
        let original = Tensor([1, 2, 3, 4], shape: [2, 2])
        let view = original.transposed()
        var copy = original
        copy.withUnsafeMutableBufferPointer { $0[0] = 100 }
        #expect(copy.toArray() == [100, 2, 3, 4])
        #expect(original.toArray() == [1, 2, 3, 4] && view.toArray() == [1, 3, 2, 4])

        var unique = Tensor([5, 6], shape: [2])
        let addressBefore = unique.storage.base  // the address, not a second reference to the storage
        unique.withUnsafeMutableBufferPointer { $0[1] = 60 }
        #expect(unique.storage.base == addressBefore, "a uniquely held dense tensor is written in place")
        #expect(unique.toArray() == [5, 60])

        var strided = Tensor([1, 2, 3, 4], shape: [2, 2]).transposed()
        strided.withUnsafeMutableBufferPointer { #expect(Array($0) == [1, 3, 2, 4]) }
        #expect(strided.isContiguous)
    }
}
