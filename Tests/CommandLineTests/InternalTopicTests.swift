// `validate` and `run` refuse an app that writes into a topic its group keeps for itself (a
// changelog, a repartition topic): the next start would restore from the app's own results.
import Foundation
import Testing

extension TidemarkCommandLine {
    @Suite("internal topics")
    struct InternalTopics {
        @Test("an output onto the group's changelog or repartition topic is refused at its file:line:column")
        func outputsOntoInternalTopicsAreRefused() throws {
            let scratch = try ScratchDirectory("internal-topics")
            defer { scratch.remove() }
            try scratch.write("apps/minute.yaml", """
                app: minute
                input: {topic: readings, device: device, time: ts}
                series:
                  - name: minute
                    window: {size: 1m}
                    aggregate: {count: count()}
                    output: tidemark-minute-changelog
                late: {output: tidemark-readings-repartition}

                """)
            let refused = """
                apps/minute.yaml:7:13: error: output topic 'tidemark-minute-changelog' is the changelog of app 'minute' of group 'tidemark'; write to a topic of your own

                """
            let validate = try runTool(["validate", "--apps", "apps"], in: scratch.url)
            #expect(validate.status == 1)
            #expect(validate.stderr == refused)
            let run = try runTool(["run", "--brokers", "127.0.0.1:9", "--apps", "apps"], in: scratch.url)
            #expect(run.status == 1)
            #expect(run.stderr == refused)

            // In another group those names are the app's own to write.
            let otherGroup = try runTool(["validate", "--apps", "apps", "--group", "other"], in: scratch.url)
            #expect(otherGroup.status == 0)
            #expect(otherGroup.stdout == "minute: input readings, 1 series, 0 triggers (apps/minute.yaml)\n")
        }
    }
}
