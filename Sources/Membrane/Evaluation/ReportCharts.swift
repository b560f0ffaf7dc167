import Diffusion

/// The report's PNG charts, drawn into pixels directly: the page labels them, so they carry no text.
enum ReportCharts {
    typealias Colour = (red: UInt8, green: UInt8, blue: UInt8)

    static let background: Colour = (255, 255, 255)
    static let missing: Colour = (160, 160, 160)

    /// Viridis at five stops: dark for 0, yellow for 1, readable in grey and by most colour-blind readers.
    static func ramp(_ share: Double) -> Colour {
        let stops: [Colour] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let position = min(max(share, 0), 1) * Double(stops.count - 1)
        let lower = min(Int(position), stops.count - 2), fraction = position - Double(lower)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * fraction).rounded()) }
        let (a, b) = (stops[lower], stops[lower + 1])
        return (mix(a.red, b.red), mix(a.green, b.green), mix(a.blue, b.blue))
    }

    /// A canvas to draw on.
    struct Raster {
        let width: Int, height: Int
        var pixels: [UInt8]

        init(width: Int, height: Int, colour: Colour = background) {
            self.width = width
            self.height = height
            pixels = Array((0..<(width * height)).map { _ in [colour.red, colour.green, colour.blue] }.joined())
        }

        mutating func set(_ x: Int, _ y: Int, _ colour: Colour) {
            guard (0..<width).contains(x), (0..<height).contains(y) else { return }
            let index = (y * width + x) * 3
            pixels[index] = colour.red
            pixels[index + 1] = colour.green
            pixels[index + 2] = colour.blue
        }

        mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ colour: Colour) {
            for row in y..<(y + h) { for column in x..<(x + w) { set(column, row, colour) } }
        }

        /// A straight line, one pixel wide (enough steps that no pixel along it is skipped).
        mutating func line(from a: (x: Double, y: Double), to b: (x: Double, y: Double), _ colour: Colour) {
            let steps = max(Int(max(abs(b.x - a.x), abs(b.y - a.y)).rounded(.up)), 1)
            for step in 0...steps {
                let t = Double(step) / Double(steps)
                set(Int((a.x + (b.x - a.x) * t).rounded()), Int((a.y + (b.y - a.y) * t).rounded()), colour)
            }
        }

        var image: RGBImage { RGBImage(width: width, height: height, pixels: pixels) }
    }

    /// One square per cell, rows top to bottom as the table lists them; missing values grey, marked cells framed
    /// in white.
    static func heatMap(_ map: EvaluationReport.HeatMap, cell: Int = 40, gap: Int = 2) -> RGBImage {
        let rows = map.table.rows.count, columns = map.table.rows.map(\.values.count).max() ?? 0
        var raster = Raster(width: max(columns, 1) * (cell + gap) + gap, height: max(rows, 1) * (cell + gap) + gap)
        for (row, entry) in map.table.rows.enumerated() {
            for (column, value) in entry.values.enumerated() {
                let (x, y) = (gap + column * (cell + gap), gap + row * (cell + gap))
                raster.fill(x: x, y: y, width: cell, height: cell, value.map(ramp) ?? missing)
                if map.marked[row][column] {
                    for side in [(x, y, cell, 2), (x, y + cell - 2, cell, 2), (x, y, 2, cell), (x + cell - 2, y, 2, cell)] {
                        raster.fill(x: side.0, y: side.1, width: side.2, height: side.3, background)
                    }
                }
            }
        }
        return raster.image
    }

    /// The loss against the step: light lines at the quarters of the loss range, each step's loss in light blue
    /// and its moving average (over a thirtieth of the run) in blue, since one step's loss is noisy.
    static func lossCurve(_ curve: EvaluationReport.LossCurve, width: Int = 480, height: Int = 160) -> RGBImage {
        var raster = Raster(width: width, height: height)
        let margin = 8.0
        let (plotWidth, plotHeight) = (Double(width) - 2 * margin, Double(height) - 2 * margin)
        for quarter in 0...4 {
            let y = margin + plotHeight * Double(quarter) / 4
            raster.line(from: (margin, y), to: (margin + plotWidth, y), (225, 225, 225))
        }
        guard let low = curve.losses.min(), let high = curve.losses.max(), let first = curve.steps.first,
              let last = curve.steps.last else { return raster.image }
        func point(_ index: Int, _ loss: Double) -> (x: Double, y: Double) {
            let x = last > first ? Double(curve.steps[index] - first) / Double(last - first) : 0.5
            let y = high > low ? (loss - low) / (high - low) : 0.5
            return (margin + x * plotWidth, margin + (1 - y) * plotHeight)
        }
        let window = max(1, curve.losses.count / 30)
        var sum = 0.0
        let averages = curve.losses.indices.map { index in
            sum += curve.losses[index] - (index >= window ? curve.losses[index - window] : 0)
            return sum / Double(min(index + 1, window))
        }
        for (series, colour) in [(curve.losses, (174, 199, 232) as Colour), (averages, (31, 119, 180) as Colour)] {
            for index in series.indices.dropFirst() {
                raster.line(from: point(index - 1, series[index - 1]), to: point(index, series[index]), colour)
            }
        }
        if curve.losses.count == 1 { raster.fill(x: Int(point(0, curve.losses[0]).x) - 1, y: Int(point(0, curve.losses[0]).y) - 1, width: 3, height: 3, (31, 119, 180)) }
        return raster.image
    }
}
