// Alarms that fire on the first occurrence of something that needs a person.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface AnyOccurrenceAlarmArgs {
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, pulumi.Input<string>>;
  statistic: "Sum" | "Maximum";
  alarmActions?: pulumi.Input<string>[];
}

/** Alarms when the metric is above zero in any 5-minute period; no data is not an alarm. */
export function anyOccurrenceAlarm(
  name: string,
  args: AnyOccurrenceAlarmArgs,
  opts: pulumi.CustomResourceOptions,
): aws.cloudwatch.MetricAlarm {
  return new aws.cloudwatch.MetricAlarm(
    name,
    {
      alarmDescription: args.description,
      namespace: args.namespace,
      metricName: args.metricName,
      dimensions: args.dimensions,
      statistic: args.statistic,
      period: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: args.alarmActions ?? [],
    },
    opts,
  );
}
