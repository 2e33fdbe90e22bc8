import Imaging

/// The world's attributes. A category is one colour, one shape and one texture, named in words
/// ("red striped triangle"; plain ones just "red triangle"), so that held-out categories are
/// new combinations of words the training names already use.
public enum ObjectColor: String, CaseIterable, Sendable {
    case red, orange, yellow, green, cyan, blue, purple, pink, brown, gray

    /// The base colour objects are jittered around.
    var rgb: (Double, Double, Double) {
        switch self {
        case .red: (205, 35, 35)
        case .orange: (240, 135, 25)
        case .yellow: (235, 215, 35)
        case .green: (45, 165, 55)
        case .cyan: (35, 200, 215)
        case .blue: (35, 65, 210)
        case .purple: (125, 45, 175)
        case .pink: (245, 135, 195)
        case .brown: (125, 75, 35)
        case .gray: (128, 128, 128)
        }
    }
}

public enum ObjectShape: String, CaseIterable, Sendable {
    case circle, square, triangle, hexagon, star, cross, ring, crescent
}

public enum ObjectTexture: String, CaseIterable, Sendable {
    case plain, striped, dotted, checkered
}

/// One category of the world.
public struct WorldCategory: Sendable, Equatable {
    /// LVIS category id (1-based, in catalogue order).
    public let id: Int
    public let color: ObjectColor
    public let shape: ObjectShape
    public let texture: ObjectTexture
    /// Never drawn in a training scene nor named in the training annotations.
    public let heldOut: Bool

    /// "red striped triangle", or "red triangle" when plain.
    public var name: String {
        texture == .plain ? "\(color.rawValue) \(shape.rawValue)" : "\(color.rawValue) \(texture.rawValue) \(shape.rawValue)"
    }
}

public enum CatalogueError: Error, CustomStringConvertible, Equatable {
    case badCount(String)

    public var description: String {
        switch self {
        case let .badCount(reason): reason
        }
    }
}

/// The categories of one world: `count` of all colour × shape × texture combinations, chosen and
/// ordered by the seed, with `heldOut` of them held out of training.
public struct Catalogue: Sendable {
    public static let combinations = ObjectColor.allCases.count * ObjectShape.allCases.count * ObjectTexture.allCases.count

    public let categories: [WorldCategory]

    public var heldOut: [WorldCategory] { categories.filter(\.heldOut) }

    public init(count: Int, heldOut: Int, seed: UInt64) throws {
        guard count >= 2 && count <= Self.combinations else {
            throw CatalogueError.badCount("--categories must lie in 2...\(Self.combinations) (colours × shapes × textures), got \(count)")
        }
        guard heldOut >= 0 && heldOut * 4 <= count else {
            throw CatalogueError.badCount("--held-out must lie in 0...\(count / 4) (at most a quarter of the \(count) categories), got \(heldOut)")
        }
        var all: [(ObjectColor, ObjectShape, ObjectTexture)] = []
        for color in ObjectColor.allCases {
            for shape in ObjectShape.allCases {
                for texture in ObjectTexture.allCases { all.append((color, shape, texture)) }
            }
        }
        var random = SplitMix64(seed: seed, stream: 0xCA7A)
        let chosen = Array(random.shuffled(all).prefix(count))
        // Held out: the first combinations whose three words each stay in some training name.
        var held = Set<Int>()
        for candidate in chosen.indices where held.count < heldOut {
            let trial = held.union([candidate])
            let kept = chosen.indices.filter { !trial.contains($0) }.map { chosen[$0] }
            let (c, s, t) = chosen[candidate]
            if kept.contains(where: { $0.0 == c }) && kept.contains(where: { $0.1 == s }) && kept.contains(where: { $0.2 == t }) {
                held = trial
            }
        }
        guard held.count == heldOut else {
            throw CatalogueError.badCount("cannot hold out \(heldOut) of \(count) categories and keep each of their words in a training name")
        }
        categories = chosen.enumerated().map { index, attributes in
            WorldCategory(id: index + 1, color: attributes.0, shape: attributes.1, texture: attributes.2, heldOut: held.contains(index))
        }
    }
}
