// The load run (npm run load, scripts/load/) at N=50 for every mechanism: the real workflow, the
// serialized functions and the quota-enforcing fakes, with simulated approvers and time. Every
// request must end with a reason (none lost) and none may fail for a quota (a capacity error
// reaching the end of the workflow's Retry). The processes per function are kept to one: the
// run's cost is mostly starting them, not the load.
import { expect } from "chai";
import { defaultQuotas } from "../scripts/load/quotas";
import { MECHANISMS, MechanismReport, runLoad } from "../scripts/load/run";

/** Error names that mean "over a quota": a request failed for capacity rather than a permanent fault. */
const QUOTA_ERRORS = [
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "SNS.ThrottlingException",
  "SNS.ThrottledException",
  "Lambda.TooManyRequestsException",
  "AutomationExecutionLimitExceededException",
  "ConcurrentPipelineExecutionsLimitExceededException",
  "ConflictException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "Slack.ratelimited",
];

describe("load run: 50 requests at once per mechanism (npm run load)", function () {
  this.timeout(120000);
  for (const mechanism of MECHANISMS) {
    it(`${mechanism}: every request ends with a reason, none fails for a quota`, async () => {
      // Ceilings scaled down so that 50 requests pass every one of them (SSM's running limit and its
      // queue, a pipeline's executions); the others (SNS, Slack, the page) are met at 50 as they are.
      const quotas = defaultQuotas(10);
      quotas.ssmConcurrent.limit = 10;
      quotas.ssmQueue.limit = 20;
      const report: MechanismReport = await runLoad({ mechanism, requests: 50, quotas, processesPerFunction: 1 });
      const context = JSON.stringify(report, null, 1);
      expect(report.started, context).to.equal(50);
      expect(report.lost, context).to.equal(0);
      expect(
        Object.keys(report.failed).filter((error) => QUOTA_ERRORS.includes(error)),
        context,
      ).to.deep.equal([]);
      expect(
        report.decided + report.timedOut + Object.values(report.failed).reduce((a, b) => a + b, 0),
        context,
      ).to.equal(50);
      // Every request that was decided reached its approver first.
      expect(report.reachedApprover, context).to.be.at.least(report.decided);
      // A ceiling was met (the run proves waiting, not just a quiet day), except for activity, which has none.
      if (mechanism !== "activity")
        expect(
          report.ceilings.filter((c) => c.refused > 0),
          context,
        ).to.not.be.empty;
    });
  }
});
