// Port of segment-anything's utils/amg.py point grids (build_point_grid,
// build_all_layer_point_grids): the prompts of the automatic mask generator.

/// Points in [0, 1]², (x, y) in double precision as numpy makes them; scaled to a crop's size
/// they become the generator's point prompts.
public struct PointGrid: Sendable, Equatable {
    public var points: [(x: Double, y: Double)]

    public init(points: [(x: Double, y: Double)]) { self.points = points }

    /// n × n points at the centres of an n × n tiling of the unit square, row by row
    /// (`build_point_grid`: `np.linspace(1/2n, 1 − 1/2n, n)` on both axes).
    public init(perSide n: Int) {
        precondition(n > 0, "a point grid needs at least one point per side, got \(n)")
        let offset = 1 / (2 * Double(n))
        let side = Self.linspace(offset, 1 - offset, n)
        points = side.flatMap { y in side.map { x in (x: x, y: y) } }
    }

    /// One grid per crop layer: layer i has ⌊n / factorⁱ⌋ points per side (`build_all_layer_point_grids`).
    public static func layers(perSide n: Int, cropLayers: Int, downscaleFactor: Int) -> [PointGrid] {
        (0...cropLayers).map { i in
            var scale = 1
            for _ in 0..<i { scale *= downscaleFactor }
            // Python's int(n / scale): true division, truncated.
            return PointGrid(perSide: Int(Double(n) / Double(scale)))
        }
    }

    /// numpy's `linspace` with its endpoint: start + i·step, the last value exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return [start] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    public static func == (a: PointGrid, b: PointGrid) -> Bool {
        a.points.count == b.points.count && zip(a.points, b.points).allSatisfy { $0.x == $1.x && $0.y == $1.y }
    }
}
