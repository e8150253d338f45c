// What `/health` answers as the service runs, stops and fails: a stopping service does not
// become healthy again when a broker comes back, and failing is final.
import Testing
import Tidemark

@Suite struct HealthStateTests {
    @Test func stoppingHoldsAgainstRecoveryButNotAgainstFailure() {
        let health = HealthState()
        #expect(health.report == (true, #"{"status":"ok","detail":"starting"}"# + "\n"))
        health.set(.degraded("no broker connection for 12 s"))
        health.set(.stopping("draining"))
        health.set(.ok)
        health.set(.degraded("no broker connection for 13 s"))
        #expect(health.report == (false, #"{"status":"stopping","detail":"draining"}"# + "\n"))
        health.set(.failing("the drain left work undone"))
        health.set(.stopping("draining"))
        health.set(.ok)
        #expect(health.report == (false, #"{"status":"failing","detail":"the drain left work undone"}"# + "\n"))
    }
}
