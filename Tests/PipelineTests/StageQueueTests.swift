import PipelineProtocol
import Testing
@testable import Pipeline

/// Credit-based dispatch, liveness and the one retry, on a clock set by hand.
@Suite struct StageQueueTests {
    static func item(_ id: UInt64, request: UInt64 = 1) -> StageQueue.Item {
        var work = Regionspot_V1_WorkItem()
        (work.itemID, work.attempt) = (id, 1)
        return StageQueue.Item(id: id, request: request, work: work)
    }

    let a: [UInt8] = [1], b: [UInt8] = [2]

    @Test func itemsGoOnlyToWorkersWithCredit() {
        var queue = StageQueue(stage: .localize, queueLimit: 3)
        for id: UInt64 in 1...3 { queue.enqueue(Self.item(id)) }
        let none = queue.dispatch()
        #expect(none.isEmpty)  // no worker yet: items wait
        queue.register(address: a, name: "a", credit: 1, now: 0)
        queue.register(address: b, name: "b", credit: 1, now: 0)
        let sent = queue.dispatch()
        #expect(sent.map(\.work.itemID) == [1, 2] && Set(sent.map(\.address)) == [a, b])
        let more = queue.dispatch()
        #expect(queue.waiting == [3] && more.isEmpty)
        // A result returns the credit; the waiting item goes to that worker.
        let finished = queue.finish(1, from: sent[0].address)
        let next = queue.dispatch()
        #expect(finished?.id == 1 && next.map(\.address) == [sent[0].address])
        #expect(queue.completed == 1)
    }

    @Test func theQueueLimitCountsWaitingItems() {
        var queue = StageQueue(stage: .semantic, queueLimit: 2)
        #expect(!queue.wouldOverflow(adding: 2) && queue.wouldOverflow(adding: 3))
        queue.enqueue(Self.item(1))
        queue.enqueue(Self.item(2))
        #expect(queue.wouldOverflow(adding: 1))
        queue.drop(1)
        #expect(!queue.wouldOverflow(adding: 1) && queue.waiting == [2])
    }

    @Test func aSilentWorkerIsDeadAndItsItemGoesOnceMore() {
        var queue = StageQueue(stage: .fuse, queueLimit: 4)
        queue.register(address: a, name: "a", credit: 1, now: 0)
        queue.enqueue(Self.item(7))
        _ = queue.dispatch()
        // Heard at 500; alive up to 500 + 3000.
        let heard = queue.heard(from: a, now: 500)
        let stillAlive = queue.expireWorkers(now: 3500, timeout: 3000)
        #expect(heard && stillAlive.dead.isEmpty)
        let (dead, lost) = queue.expireWorkers(now: 3501, timeout: 3000)
        #expect(dead.map(\.name) == ["a"] && lost.isEmpty)
        #expect(queue.waiting == [7] && queue.items[7]?.work.attempt == 2 && queue.retried == 1)
        // Its second worker dies too: the item is lost, and the reason names both workers.
        queue.register(address: b, name: "b", credit: 1, now: 4000)
        let retry = queue.dispatch()
        #expect(retry.map(\.work.attempt) == [2])
        let second = queue.expireWorkers(now: 8000, timeout: 3000)
        #expect(second.dead.map(\.name) == ["b"] && second.lost.map(\.item.id) == [7])
        #expect(second.lost[0].reason.contains("worker b") && second.lost[0].reason.contains("after worker a died"))
        #expect(queue.items.isEmpty && queue.waiting.isEmpty)
    }

    @Test func lateAndStrayResultsAreDiscardedButReturnCredit() {
        var queue = StageQueue(stage: .localize, queueLimit: 4)
        queue.register(address: a, name: "a", credit: 1, now: 0)
        queue.enqueue(Self.item(1))
        _ = queue.dispatch()
        queue.drop(1)  // its request passed its deadline
        #expect(queue.workers[a]?.free == 0)  // the worker is still busy with it
        let late = queue.finish(1, from: a)
        #expect(late == nil && queue.workers[a]?.free == 1)
        // A result from a worker the item is not at changes nothing.
        queue.enqueue(Self.item(2))
        _ = queue.dispatch()
        let stray = queue.finish(2, from: b)
        #expect(stray == nil && queue.items[2] != nil)
    }

    @Test func aWorkerThatLeavesHandsBackItsItems() {
        var queue = StageQueue(stage: .semantic, queueLimit: 4)
        queue.register(address: a, name: "a", credit: 2, now: 0)
        queue.enqueue(Self.item(1))
        queue.enqueue(Self.item(2))
        queue.enqueue(Self.item(3))
        let sent = queue.dispatch()
        let lost = queue.remove(a, reason: "left")
        #expect(sent.count == 2 && lost.isEmpty)
        #expect(queue.waiting == [1, 2, 3] && queue.liveWorkers == 0)
    }
}

/// Deadlines of the request table, on a clock set by hand.
@Suite struct RequestTableTests {
    @Test func requestsExpireAtTheirDeadlineAndNotBefore() {
        var table = RequestTable()
        let early = table.add(envelope: [[1]], request: .init(), now: 1000, deadlineMilliseconds: 300)
        let late = table.add(envelope: [[2]], request: .init(), now: 1100, deadlineMilliseconds: 5000)
        #expect(table.nextDeadline == 1300 && table.decoding == 2)
        let before = table.expire(now: 1299)
        let at = table.expire(now: 1300)
        #expect(before.isEmpty && at.map(\.key) == [early])
        #expect(table.nextDeadline == 6100 && table[late] != nil && table.count == 1)
        table[late]?.phase = .encoding
        #expect(table.decoding == 0)
        let removed = table.remove(late)
        #expect(removed != nil && table.nextDeadline == nil)
    }
}
