// The shared resend of a throttled decision (functions/shared/throttledSend.ts): what is sent again,
// how long it pauses, and when it stops. No real waits: sleep and random are injected.
import { expect } from "chai";
import {
  PAGE_RESEND,
  RESULT_RESEND,
  SLACK_RESEND,
  THROTTLING_ERRORS,
  sendWhileThrottled,
} from "../functions/shared/throttledSend";

const named = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(name), { name, ...extra });

/** A send that fails with `errors` in turn, then succeeds; and the pauses it was given. */
function scripted(errors: Error[]) {
  const pauses: number[] = [];
  let calls = 0;
  const send = async () => {
    calls += 1;
    const error = errors.shift();
    if (error) throw error;
    return "sent";
  };
  return { send, pauses, calls: () => calls, sleep: async (ms: number) => void pauses.push(ms) };
}

describe("throttledSend: a decision refused for capacity is sent again, nothing else", () => {
  it("sends again after each throttling name (the SDK's and KmsThrottlingException), with jittered pauses between half and all of the base", async () => {
    const errors = THROTTLING_ERRORS.slice(0, 3).map((n) => named(n));
    const s = scripted(errors);
    let r = 0;
    const randoms = [0, 1, 0.5];
    const outcome = await sendWhileThrottled(s.send, {
      pausesMs: [100, 200, 400],
      budgetMs: 10_000,
      sleep: s.sleep,
      random: () => randoms[r++],
    });
    expect(outcome).to.deep.equal({ ok: true, value: "sent", attempts: 4 });
    expect(s.pauses).to.deep.equal([50, 200, 300]);
    expect(THROTTLING_ERRORS).to.include("KmsThrottlingException");
  });

  it("never sends again after an answer that may have counted (a 5xx, a lost answer) or a refusal that is no throttling", async () => {
    for (const error of [
      named("InternalFailure", { $metadata: { httpStatusCode: 500 } }),
      named("TimeoutError"),
      named("TaskTimedOut"),
      named("KmsAccessDeniedException"),
    ]) {
      const s = scripted([error]);
      const outcome = await sendWhileThrottled(s.send, { ...RESULT_RESEND, sleep: s.sleep });
      expect(outcome, error.name).to.deep.include({ ok: false, error, attempts: 1, earlierMayHaveCounted: false });
      expect(s.calls()).to.equal(1);
    }
  });

  it("stops after its pauses are used up, or when the next pause would pass its budget", async () => {
    const always = () => Array.from({ length: 20 }, () => named("ThrottlingException"));
    const s = scripted(always());
    const outcome = await sendWhileThrottled(s.send, { ...PAGE_RESEND, sleep: s.sleep });
    expect(outcome).to.deep.include({ ok: false, attempts: PAGE_RESEND.pausesMs.length + 1 });
    const slow = scripted(always());
    const budgeted = await sendWhileThrottled(slow.send, {
      pausesMs: [1000, 1000, 1000],
      budgetMs: 1500,
      sleep: slow.sleep,
      random: () => 1,
    });
    expect(budgeted).to.deep.include({ ok: false, attempts: 2 });
    expect(slow.pauses).to.deep.equal([1000]);
  });

  it("a closed task after a throttled attempt in which the SDK itself sent more than once: the earlier try may have counted", async () => {
    const s = scripted([
      named("ThrottlingException", { $metadata: { attempts: 3 } }),
      named("TaskTimedOut", { $metadata: { attempts: 1 } }),
    ]);
    const outcome = await sendWhileThrottled(s.send, { ...SLACK_RESEND, sleep: s.sleep });
    expect(outcome).to.deep.include({ ok: false, attempts: 2, earlierMayHaveCounted: true });
    const refusedOnly = scripted([named("KmsThrottlingException"), named("TaskTimedOut")]);
    expect(await sendWhileThrottled(refusedOnly.send, { ...SLACK_RESEND, sleep: refusedOnly.sleep })).to.deep.include({
      ok: false,
      attempts: 2,
      earlierMayHaveCounted: false,
    });
  });

  it("every sender's pauses fit its budget: the page answers a person, slack a click within 3 s", () => {
    for (const policy of [RESULT_RESEND, PAGE_RESEND, SLACK_RESEND]) {
      expect(policy.pausesMs.reduce((a, b) => a + b, 0) / 2).to.be.at.most(policy.budgetMs);
    }
    expect(SLACK_RESEND.budgetMs).to.be.below(3000);
    expect(PAGE_RESEND.budgetMs).to.be.at.most(2000);
  });
});
