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

extension HealthStateTests {
    @Test("a condition set apart from the status (refused app files) shows as degraded next to the loop's own reason until cleared; stopping and failing still win")
    func conditionsCombineWithTheStatus() {
        let health = HealthState()
        health.set(.ok)
        health.setCondition("apps", "app files refused: apps/loop.yaml: error: too many levels of symbolic links")
        #expect(
            health.report
                == (true, #"{"status":"degraded","detail":"app files refused: apps/loop.yaml: error: too many levels of symbolic links"}"# + "\n"))
        health.set(.degraded("no broker connection for 12 s"))
        #expect(
            health.report
                == (
                    true,
                    #"{"status":"degraded","detail":"no broker connection for 12 s; app files refused: apps/loop.yaml: error: too many levels of symbolic links"}"#
                        + "\n"
                ))
        // The loop setting ok again does not hide the reloader's problem…
        health.set(.ok)
        #expect(health.report.json.hasPrefix(#"{"status":"degraded","detail":"app files refused"#))
        // …until the reloader clears it.
        health.setCondition("apps", nil)
        #expect(health.report == (true, #"{"status":"ok","detail":"running"}"# + "\n"))
        health.setCondition("apps", "app files refused")
        health.set(.stopping("draining"))
        #expect(health.report == (false, #"{"status":"stopping","detail":"draining"}"# + "\n"))
    }
}
