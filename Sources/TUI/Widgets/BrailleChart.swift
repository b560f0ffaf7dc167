import Foundation

/// A named line for a chart: points in data coordinates (x ascending).
public struct ChartSeries: Equatable, Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }

    public static func == (a: ChartSeries, b: ChartSeries) -> Bool {
        a.name == b.name && a.points.elementsEqual(b.points) { $0.x == $1.x && $0.y == $1.y }
    }
}

/// Dots in a grid of braille cells: each cell is 2 dots wide and 4 high (U+2800 plus a bit mask), so a chart
/// `columns` wide has `2 × columns` horizontal positions. Each cell also records which series drew it last,
/// for its colour.
public struct BrailleGrid: Equatable, Sendable {
    public let columns: Int
    public let rows: Int
    public private(set) var masks: [UInt8]
    public private(set) var owners: [Int]

    public init(columns: Int, rows: Int) {
        self.columns = max(0, columns)
        self.rows = max(0, rows)
        masks = Array(repeating: 0, count: self.columns * self.rows)
        owners = Array(repeating: -1, count: self.columns * self.rows)
    }

    /// Bit for the dot at (column 0–1, row 0–3) within a cell, as Unicode numbers braille dots 1–8.
    static let dotBits: [[UInt8]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]

    /// Sets the dot at pixel (px, py); pixels outside the grid are ignored.
    public mutating func set(px: Int, py: Int, series: Int) {
        guard px >= 0, py >= 0, px < columns * 2, py < rows * 4 else { return }
        let index = (py / 4) * columns + px / 2
        masks[index] |= BrailleGrid.dotBits[py % 4][px % 2]
        owners[index] = series
    }

    /// Draws a straight line of dots between two pixels (Bresenham), both ends included.
    public mutating func line(from a: (Int, Int), to b: (Int, Int), series: Int) {
        var (x, y) = a
        let dx = abs(b.0 - x), dy = -abs(b.1 - y)
        let sx = x < b.0 ? 1 : -1, sy = y < b.1 ? 1 : -1
        var error = dx + dy
        while true {
            set(px: x, py: y, series: series)
            if x == b.0 && y == b.1 { break }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x += sx }
            if doubled <= dx { error += dx; y += sy }
        }
    }

    /// The character of a cell (a blank braille cell is drawn as a space).
    public func character(column: Int, row: Int) -> Character {
        let mask = masks[row * columns + column]
        return mask == 0 ? " " : Character(UnicodeScalar(0x2800 + UInt32(mask))!)
    }

    public func owner(column: Int, row: Int) -> Int { owners[row * columns + column] }

    /// The grid as text, one string per row.
    public var lines: [String] {
        (0..<rows).map { row in String((0..<columns).map { character(column: $0, row: row) }) }
    }
}

/// The data range a chart shows.
public struct ChartRange: Equatable, Sendable {
    public var xMin: Double, xMax: Double, yMin: Double, yMax: Double

    /// The range covering every finite point; a flat line gets a little room above and below.
    public init?(series: [ChartSeries]) {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard let first = points.first else { return nil }
        var range = (xMin: first.x, xMax: first.x, yMin: first.y, yMax: first.y)
        for point in points {
            range.xMin = min(range.xMin, point.x)
            range.xMax = max(range.xMax, point.x)
            range.yMin = min(range.yMin, point.y)
            range.yMax = max(range.yMax, point.y)
        }
        if range.yMin == range.yMax {
            let pad = max(abs(range.yMin) * 0.1, 0.5)
            range.yMin -= pad
            range.yMax += pad
        }
        self.init(xMin: range.xMin, xMax: range.xMax, yMin: range.yMin, yMax: range.yMax)
    }

    public init(xMin: Double, xMax: Double, yMin: Double, yMax: Double) {
        self.xMin = xMin
        self.xMax = xMax
        self.yMin = yMin
        self.yMax = yMax
    }
}

/// Plots series as connected braille dots: x maps linearly onto dot columns 0…2·columns−1, y onto dot rows
/// (top = yMax). A non-finite value breaks its line.
public func plotBraille(_ series: [ChartSeries], columns: Int, rows: Int, range: ChartRange) -> BrailleGrid {
    var grid = BrailleGrid(columns: columns, rows: rows)
    guard columns > 0, rows > 0 else { return grid }
    let widthDots = Double(columns * 2 - 1), heightDots = Double(rows * 4 - 1)
    func pixel(_ point: (x: Double, y: Double)) -> (Int, Int) {
        let xSpan = range.xMax - range.xMin, ySpan = range.yMax - range.yMin
        let fx = xSpan > 0 ? (point.x - range.xMin) / xSpan : 0
        let fy = ySpan > 0 ? (range.yMax - point.y) / ySpan : 0.5
        return (Int((fx * widthDots).rounded()), Int((fy * heightDots).rounded()))
    }
    for (index, line) in series.enumerated() {
        var previous: (Int, Int)?
        for point in line.points {
            guard point.x.isFinite, point.y.isFinite else { previous = nil; continue }
            let current = pixel(point)
            if let previous { grid.line(from: previous, to: current, series: index) }
            else { grid.set(px: current.0, py: current.1, series: index) }
            previous = current
        }
    }
    return grid
}

/// Short axis labels: up to 4 significant digits, scientific for very large or small magnitudes.
public func axisLabel(_ value: Double) -> String {
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if magnitude >= 100_000 || magnitude < 0.001 { return String(format: "%.2e", value) }
    return String(format: "%.4g", value)
}

/// A line chart: legend on the first row, y labels on the left, x labels (first and last x) at the bottom.
public struct LineChart: Widget {
    public var series: [ChartSeries]
    public var emptyMessage: String

    public init(series: [ChartSeries], emptyMessage: String = "no data yet") {
        self.series = series
        self.emptyMessage = emptyMessage
    }

    public func draw(on surface: inout Surface) {
        guard surface.width >= 12, surface.height >= 4 else {
            surface.write(truncated("chart needs more room", toWidth: surface.width), x: 0, y: 0, role: .muted)
            return
        }
        var x = 0
        for (index, line) in series.enumerated() {
            x = surface.write("━━ ", x: x, y: 0, role: .series(index))
            x = surface.write(line.name + "   ", x: x, y: 0, role: .text)
        }
        guard let range = ChartRange(series: series) else {
            surface.write(truncated(emptyMessage, toWidth: surface.width), x: 0, y: 2, role: .muted)
            return
        }
        let plotRows = surface.height - 2
        let yLabels = [axisLabel(range.yMax), axisLabel((range.yMax + range.yMin) / 2), axisLabel(range.yMin)]
        let labelWidth = yLabels.map { terminalWidth(of: $0) }.max() ?? 1
        let plotColumns = surface.width - labelWidth - 1
        guard plotColumns >= 2 else { return }
        let grid = plotBraille(series, columns: plotColumns, rows: plotRows, range: range)
        let axis = surface.style(.border)
        for row in 0..<plotRows {
            let label: String? = row == 0 ? yLabels[0] : row == plotRows - 1 ? yLabels[2]
                : (plotRows >= 5 && row == plotRows / 2) ? yLabels[1] : nil
            if let label {
                surface.write(label, x: labelWidth - terminalWidth(of: label), y: row + 1, role: .muted)
                surface.write("┤", x: labelWidth, y: row + 1, style: axis)
            } else {
                surface.write("│", x: labelWidth, y: row + 1, style: axis)
            }
            for column in 0..<plotColumns {
                let owner = grid.owner(column: column, row: row)
                let role: ColorRole = owner >= 0 ? .series(owner) : .text
                surface.put(Cell(grid.character(column: column, row: row), style: surface.style(role)),
                            x: labelWidth + 1 + column, y: row + 1)
            }
        }
        let bottom = surface.height - 1
        surface.write("└" + String(repeating: "─", count: plotColumns), x: labelWidth, y: bottom, style: axis)
        let first = axisLabel(range.xMin), last = axisLabel(range.xMax)
        surface.write(first, x: labelWidth + 1, y: bottom, role: .muted)
        if range.xMax != range.xMin, terminalWidth(of: first) + terminalWidth(of: last) + 2 < plotColumns {
            surface.write(last, x: surface.width - terminalWidth(of: last), y: bottom, role: .muted)
        }
    }
}
