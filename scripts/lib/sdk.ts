// The AWS SDK clients of the CLIs, loaded when first used: --help and usage errors answer without
// them (loading the SDK is most of a CLI's start).
import type * as SfnModule from "@aws-sdk/client-sfn";
import type * as StsModule from "@aws-sdk/client-sts";

/* eslint-disable @typescript-eslint/no-require-imports */
export const sfnSdk = (): typeof SfnModule => require("@aws-sdk/client-sfn");
export const stsSdk = (): typeof StsModule => require("@aws-sdk/client-sts");
