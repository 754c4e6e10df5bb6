// verifySlackRequest against Slack's own worked example ("Verifying requests from Slack",
// https://api.slack.com/authentication/verifying-requests-from-slack: secret, timestamp, slash
// command body and signature as published) and against requests signed by the test helper's
// independent signer: bad signature, wrong length, stale and future timestamps, a changed byte.
import { expect } from "chai";
import {
  SLACK_MAX_AGE_SECONDS,
  slackRequestHeaders,
  slackSignature,
  verifySlackRequest,
} from "../functions/mechanisms/slack/signature";
import { FAKE_SIGNING_SECRET, slackSignature as helperSignature } from "./helpers/slackInteractions";

const DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP = "1531420618";
const DOC_BODY =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

const NOW = 1_790_000_000;
const BODY = `payload=${encodeURIComponent(JSON.stringify({ type: "block_actions", actions: [{ value: "x" }] }))}`;

function signed(body = BODY, timestamp = NOW) {
  return {
    signingSecret: FAKE_SIGNING_SECRET,
    timestampHeader: String(timestamp),
    signatureHeader: helperSignature(FAKE_SIGNING_SECRET, timestamp, body),
    rawBody: body,
    nowSeconds: NOW,
  };
}

describe("Slack request signatures", () => {
  it("reproduces Slack's published example and accepts it at its own time", () => {
    expect(slackSignature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY)).to.equal(DOC_SIGNATURE);
    expect(slackSignature(DOC_SECRET, DOC_TIMESTAMP, Buffer.from(DOC_BODY))).to.equal(DOC_SIGNATURE);
    const request = {
      signingSecret: DOC_SECRET,
      timestampHeader: DOC_TIMESTAMP,
      signatureHeader: DOC_SIGNATURE,
      rawBody: DOC_BODY,
    };
    expect(verifySlackRequest({ ...request, nowSeconds: Number(DOC_TIMESTAMP) + 60 })).to.deep.equal({ ok: true });
    // Captured and replayed later: refused although the signature is Slack's.
    expect(verifySlackRequest({ ...request, nowSeconds: Number(DOC_TIMESTAMP) + 301 })).to.deep.equal({
      ok: false,
      reason: "the request is more than 300 seconds old (a replay or a slow delivery)",
    });
  });

  it("accepts a request signed with the signing secret, up to 5 minutes either way", () => {
    expect(SLACK_MAX_AGE_SECONDS).to.equal(300);
    expect(verifySlackRequest(signed())).to.deep.equal({ ok: true });
    expect(verifySlackRequest(signed(BODY, NOW - 300))).to.deep.equal({ ok: true });
    expect(verifySlackRequest(signed(BODY, NOW + 300))).to.deep.equal({ ok: true });
  });

  it("refuses a stale or future timestamp, even correctly signed", () => {
    expect(verifySlackRequest(signed(BODY, NOW - 301))).to.deep.equal({
      ok: false,
      reason: "the request is more than 300 seconds old (a replay or a slow delivery)",
    });
    expect(verifySlackRequest(signed(BODY, NOW + 301))).to.deep.equal({
      ok: false,
      reason: "the request's timestamp is more than 300 seconds in the future",
    });
    expect(verifySlackRequest({ ...signed(BODY, NOW - 61), maxAgeSeconds: 60 }).ok).to.equal(false);
  });

  it("refuses a signature made with another secret", () => {
    const request = { ...signed(), signatureHeader: helperSignature("not-the-signing-secret", NOW, BODY) };
    expect(verifySlackRequest(request)).to.deep.equal({
      ok: false,
      reason: "the X-Slack-Signature does not match the request",
    });
  });

  it("refuses the signed body replayed with one byte changed, and a timestamp changed under the signature", () => {
    const good = signed();
    const changed = BODY.replace("block_actions", "block_actioms");
    expect(changed).to.have.length(BODY.length);
    expect(verifySlackRequest({ ...good, rawBody: changed }).ok).to.equal(false);
    expect(verifySlackRequest({ ...good, rawBody: Buffer.from(changed) }).ok).to.equal(false);
    expect(verifySlackRequest({ ...good, timestampHeader: String(NOW - 1) }).ok).to.equal(false);
  });

  it("refuses malformed, missing or wrong-length signatures without comparing", () => {
    const good = signed();
    const hex = good.signatureHeader.slice(3);
    for (const signatureHeader of [
      undefined,
      "",
      hex, // no version
      `v1=${hex}`,
      `v0=${hex.slice(0, -2)}`, // 31 bytes
      `v0=${hex}00`, // 33 bytes
      `v0=${hex.toUpperCase()}`,
      `${good.signatureHeader},${good.signatureHeader}`, // a repeated header joined by API Gateway
    ]) {
      const result = verifySlackRequest({ ...good, signatureHeader });
      expect(result.ok, String(signatureHeader)).to.equal(false);
    }
    expect(verifySlackRequest({ ...good, signatureHeader: `v0=${hex.slice(0, -2)}` })).to.deep.equal({
      ok: false,
      reason: "the X-Slack-Signature header is not a v0 signature of 64 hex digits",
    });
  });

  it("refuses a missing or non-numeric timestamp and a missing secret", () => {
    const good = signed();
    for (const timestampHeader of [undefined, "", " 1790000000", "1790000000.5", "+1790000000", "1.79e9", "abc"]) {
      expect(verifySlackRequest({ ...good, timestampHeader }).ok, String(timestampHeader)).to.equal(false);
    }
    expect(verifySlackRequest({ ...good, timestampHeader: "1.79e9" })).to.deep.equal({
      ok: false,
      reason: "the X-Slack-Request-Timestamp header is not a number of seconds",
    });
    expect(verifySlackRequest({ ...good, signingSecret: "" })).to.deep.equal({
      ok: false,
      reason: "no signing secret is configured",
    });
    expect(verifySlackRequest({ ...good, nowSeconds: Number.NaN }).ok).to.equal(false);
  });

  it("never puts the secret or a signature in a reason", () => {
    const good = signed();
    const reasons = [
      verifySlackRequest({ ...good, signatureHeader: helperSignature("other", NOW, BODY) }),
      verifySlackRequest({ ...good, signatureHeader: "v0=zz" }),
      verifySlackRequest({ ...good, rawBody: "payload=%7B%7D" }),
      verifySlackRequest(signed(BODY, NOW - 1000)),
    ].map((result) => (result.ok ? "" : result.reason));
    for (const reason of reasons) {
      expect(reason).to.not.equal("");
      expect(reason).to.not.include(FAKE_SIGNING_SECRET);
      expect(reason).to.not.include(good.signatureHeader.slice(3, 20));
      expect(reason).to.not.include("v0=");
    }
  });

  it("finds the two headers whatever their case, and refuses one given twice", () => {
    expect(
      slackRequestHeaders({ "X-Slack-Signature": "v0=ab", "x-slack-request-timestamp": "1", other: "x" }),
    ).to.deep.equal({ timestampHeader: "1", signatureHeader: "v0=ab" });
    expect(slackRequestHeaders({ "x-slack-signature": "v0=ab", "X-SLACK-SIGNATURE": "v0=cd" })).to.deep.equal({
      timestampHeader: undefined,
      signatureHeader: undefined,
    });
    expect(slackRequestHeaders(undefined)).to.deep.equal({ timestampHeader: undefined, signatureHeader: undefined });
  });
});
