import Testing
@testable import TUI

@Suite("Braille chart")
struct BrailleChartTests {
    @Test("each dot position sets its own bit; all eight make U+28FF")
    func dotBits() {
        var seen: Set<UInt8> = []
        var grid = BrailleGrid(columns: 1, rows: 1)
        for py in 0..<4 {
            for px in 0..<2 {
                var single = BrailleGrid(columns: 1, rows: 1)
                single.set(px: px, py: py, series: 0)
                seen.insert(single.masks[0])
                grid.set(px: px, py: py, series: 0)
            }
        }
        #expect(seen == [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80])
        #expect(grid.character(column: 0, row: 0) == "\u{28FF}")
        // Unicode's numbering: dot 1 top-left, dot 4 top-right, dot 7 bottom-left, dot 8 bottom-right.
        var corners = BrailleGrid(columns: 1, rows: 1)
        corners.set(px: 0, py: 0, series: 0)
        corners.set(px: 1, py: 3, series: 0)
        #expect(corners.character(column: 0, row: 0) == "\u{2881}")
    }

    @Test("a flat series is a row of dots at its height")
    func flatLine() {
        // y = 5 in 0…10 on one cell row: dot row (10 − 5) / 10 · 3 = 1.5 → 2, i.e. dots 3 and 6 (0x24).
        let series = [ChartSeries(name: "a", points: [(0, 5), (3, 5)])]
        let grid = plotBraille(series, columns: 2, rows: 1, range: ChartRange(xMin: 0, xMax: 3, yMin: 0, yMax: 10))
        #expect(grid.lines == ["\u{2824}\u{2824}"])
    }

    @Test("a rising diagonal in one cell is ⡜")
    func diagonal() {
        // (0,0) → dot (0,3); (1,1) → dot (1,0); the line between adds (0,2) and (1,1): 0x40|0x04|0x10|0x08.
        let series = [ChartSeries(name: "a", points: [(0, 0), (1, 1)])]
        let grid = plotBraille(series, columns: 1, rows: 1, range: ChartRange(xMin: 0, xMax: 1, yMin: 0, yMax: 1))
        #expect(grid.lines == ["\u{285C}"])
    }

    @Test("a falling loss over 2×2 cells, against dots placed by hand")
    func fallingCurve() {
        // x 0…3 maps onto dot columns 0…3, y 0…7 onto dot rows 7…0: points land exactly on dots.
        let points: [(x: Double, y: Double)] = [(0, 7), (1, 3), (2, 1), (3, 0)]
        let grid = plotBraille([ChartSeries(name: "loss", points: points)], columns: 2, rows: 2,
                               range: ChartRange(xMin: 0, xMax: 3, yMin: 0, yMax: 7))
        // Independent expectation: dots of each straight segment (Bresenham over integer dots).
        var expected = BrailleGrid(columns: 2, rows: 2)
        for (px, py) in [(0, 0), (0, 1), (1, 2), (1, 3), (1, 4), (2, 5), (2, 6), (3, 7)] {
            expected.set(px: px, py: py, series: 0)
        }
        #expect(grid.masks == expected.masks)
        // By hand: cell (0,0) has dots 1, 2, 6, 8 (0xA3); cell (1,0) none; cell (0,1) dot 4 (0x08);
        // cell (1,1) dots 2, 3, 8 (0x86).
        #expect(grid.lines == ["\u{28A3} ", "\u{2808}\u{2886}"])
    }

    @Test("each cell takes the colour of the last series drawn in it; NaN breaks a line")
    func seriesAndGaps() {
        let a = ChartSeries(name: "a", points: [(0, 0), (1, 0)])
        let b = ChartSeries(name: "b", points: [(1, 1), (2, .nan), (3, 1)])
        let grid = plotBraille([a, b], columns: 2, rows: 1, range: ChartRange(xMin: 0, xMax: 3, yMin: 0, yMax: 1))
        #expect(grid.owner(column: 0, row: 0) == 1)  // a's dots at px 0–1 row 3, b's lone dot at px 1 row 0
        #expect(grid.masks[0] == 0x40 | 0x80 | 0x08)
        #expect(grid.owner(column: 1, row: 0) == 1)
        #expect(grid.masks[1] == 0x08)  // b's last point alone at px 3: the NaN left no line from px 1
    }

    @Test("range covers finite points and pads a flat line")
    func range() {
        let flat = ChartRange(series: [ChartSeries(name: "a", points: [(1, 2), (5, 2), (6, .infinity)])])
        #expect(flat == ChartRange(xMin: 1, xMax: 5, yMin: 1.5, yMax: 2.5))
        #expect(ChartRange(series: [ChartSeries(name: "a", points: [])]) == nil)
    }

    @Test("chart widget draws legend, y labels at top and bottom, x labels at the ends")
    func chartWidget() {
        let series = [ChartSeries(name: "erase", points: [(1, 0.5), (10, 0.1)]),
                      ChartSeries(name: "anchor", points: [(1, 0.2), (10, 0.3)])]
        var surface = Surface(buffer: CellBuffer(width: 30, height: 8), rect: Rect(x: 0, y: 0, width: 30, height: 8),
                              theme: .dark)
        LineChart(series: series).draw(on: &surface)
        let lines = surface.buffer.lines
        #expect(lines[0].hasPrefix("━━ erase   ━━ anchor"))
        #expect(lines[1].hasPrefix("0.5┤"))
        #expect(lines[6].hasPrefix("0.1┤"))
        #expect(lines[7].hasPrefix("   └1"))
        #expect(lines[7].hasSuffix("10"))
        #expect(lines[1...6].contains { $0.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } })
        // The legend's colours are the series' colours.
        #expect(surface.buffer[0, 0].style == Theme.dark.style(.series(0)))
        #expect(surface.buffer[11, 0].style == Theme.dark.style(.series(1)))
    }

    @Test("axis labels stay short")
    func labels() {
        #expect(axisLabel(0) == "0")
        #expect(axisLabel(0.5) == "0.5")
        #expect(axisLabel(1234) == "1234")
        #expect(axisLabel(0.0001) == "1.00e-04")
        #expect(axisLabel(250_000) == "2.50e+05")
    }
}
