import ArgumentParser
import Foundation

/// Which request each connection sends next (`--order`).
enum RequestOrder: String, Sendable, CaseIterable, ExpressibleByArgument, Codable {
    /// Each connection walks the set from its own starting point.
    case cycle
    /// Any request, all equally likely: a whole population asked about evenly.
    case uniform
    /// By a Zipf law over a fixed random ranking (`--zipf-exponent`): a hot set with a long tail.
    case zipf
}

/// Draws request indices for ``RequestOrder/uniform`` and ``RequestOrder/zipf``. Immutable and
/// shared by the workers; each draws with its own ``FastRandom``.
struct RequestPicker: Sendable {
    let order: RequestOrder
    let count: Int
    /// Zipf: the cumulative probability of ranks 1…n.
    private let cumulative: [Double]
    /// Zipf: which request has each rank (a seeded shuffle, the same in every run).
    private let rankToIndex: [Int]

    init(order: RequestOrder, count: Int, exponent: Double) {
        self.order = order
        self.count = count
        guard order == .zipf, count > 0 else {
            cumulative = []
            rankToIndex = []
            return
        }
        var total = 0.0
        var cumulative = [Double](repeating: 0, count: count)
        for rank in 0..<count {
            total += 1 / pow(Double(rank + 1), exponent)
            cumulative[rank] = total
        }
        self.cumulative = cumulative.map { $0 / total }
        var generator = FastRandom(seed: 20_261_130)
        var ranking = Array(0..<count)
        for index in stride(from: count - 1, to: 0, by: -1) {
            ranking.swapAt(index, Int(generator.next() % UInt64(index + 1)))
        }
        rankToIndex = ranking
    }

    /// The next request's index.
    func next(_ random: inout FastRandom) -> Int {
        let uniform = Double(random.next() >> 11) * 0x1p-53
        guard order == .zipf else { return min(count - 1, Int(uniform * Double(count))) }
        var low = 0
        var high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < uniform { low = middle + 1 } else { high = middle }
        }
        return rankToIndex[low]
    }
}
