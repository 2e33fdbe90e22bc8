import Foundation
import Logging
import PipelineProtocol

/// `RegisterVocabulary` in the broker: checked on its loop, computed on the registrar's thread
/// (LVIS's 1,203 classes take minutes, while the loop goes on serving), answered on the loop.
extension BrokerLoop {
    struct RegistrationJob: Sendable {
        let key: UInt64
        let request: Regionspot_V1_RegisterVocabularyRequest
    }

    struct RegistrationOutcome: Sendable {
        let key: UInt64
        let result: Result<RegisteredVocabulary, RequestRefusal>
        let milliseconds: Double
    }

    /// Progress lines per registration, at most (one per tenth of the classes).
    static let progressSteps = 10

    /// The registrar's work: `registry.register`, with progress in the log.
    static func register(_ job: RegistrationJob, registry: VocabularyRegistry, logger: Logger) -> RegistrationOutcome {
        let start = DispatchTime.now()
        let request = job.request, total = request.classNames.count
        logger.info("vocabulary registration started", metadata: ["vocabulary": "\(request.name)", "classes": "\(total)"])
        var reported = 0
        let result: Result<RegisteredVocabulary, RequestRefusal>
        do {
            result = .success(try registry.register(name: request.name, classNames: request.classNames, templates: request.templates) { done in
                let step = done * progressSteps / total
                guard step > reported, done < total else { return }
                reported = step
                logger.info("vocabulary classes embedded", metadata: ["vocabulary": "\(request.name)", "classes": "\(done)/\(total)",
                                                                   "elapsed_s": "\(Int(milliseconds(since: start) / 1000))"])
            })
        } catch let refusal as RequestRefusal {
            result = .failure(refusal)
        } catch {
            result = .failure(RequestRefusal(.invalidArgument, "class_names: \(error)"))  // CLIP's refusal: a name too long for its context
        }
        let elapsed = milliseconds(since: start)
        switch result {
        case .success:
            logger.notice("vocabulary registered", metadata: ["vocabulary": "\(request.name)", "classes": "\(total)", "elapsed_ms": "\(Int(elapsed))"])
        case .failure(let refusal):
            logger.warning("vocabulary not registered", metadata: ["vocabulary": "\(request.name)", "reason": "\(refusal.message)"])
        }
        return RegistrationOutcome(key: job.key, result: result, milliseconds: elapsed)
    }

    func handleRegister(_ request: Regionspot_V1_RegisterVocabularyRequest, envelope: [[UInt8]]) {
        var refusal: RequestRefusal?
        if registrar == nil {
            refusal = RequestRefusal(.unimplemented, "register_vocabulary: this daemon keeps no registered vocabularies; send `vocabulary` with each request")
        } else if drainDeadline != nil {
            refusal = RequestRefusal(.unavailable, "the daemon is shutting down: it finishes the requests it has and takes no new ones")
        } else {
            refusal = VocabularyRegistry.check(request, limits: configuration.limits)
        }
        if let refusal {
            replyRegistration(to: envelope, requestID: request.requestID, status: Regionspot_V1_Status(refusal.code, refusal.message))
            return
        }
        nextRegistration += 1
        registrations[nextRegistration] = (envelope, request.requestID)
        registrar!.submit(RegistrationJob(key: nextRegistration, request: request))
    }

    func handleRegistered(_ outcome: RegistrationOutcome) {
        guard let registration = registrations.removeValue(forKey: outcome.key) else { return }
        let (envelope, requestID) = (registration.envelope, registration.requestID)
        switch outcome.result {
        case .success(let vocabulary):
            replyRegistration(to: envelope, requestID: requestID, status: Regionspot_V1_Status(.ok)) {
                $0.name = vocabulary.name
                $0.classes = UInt32(vocabulary.classNames.count)
                $0.elapsedMs = outcome.milliseconds
            }
        case .failure(let refusal):
            replyRegistration(to: envelope, requestID: requestID, status: Regionspot_V1_Status(refusal.code, refusal.message))
        }
    }

    /// Registrations still computing when the daemon stops.
    func abandonRegistrations() {
        for (envelope, requestID) in registrations.values {
            replyRegistration(to: envelope, requestID: requestID, status: Regionspot_V1_Status(.unavailable,
                "the daemon shut down before this vocabulary was registered (grace period over)"))
        }
        registrations.removeAll()
    }

    func replyRegistration(to envelope: [[UInt8]], requestID: String, status: Regionspot_V1_Status,
                           _ fill: (inout Regionspot_V1_RegisterVocabularyReply) -> Void = { _ in }) {
        var reply = Regionspot_V1_RegisterVocabularyReply()
        reply.requestID = requestID
        reply.status = status
        fill(&reply)
        send(.with { $0.registerVocabulary = reply }, to: envelope, code: status.code)
    }
}
