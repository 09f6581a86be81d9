"""In a run tagged with a partition, only partitioned assets read the partition (issue 10's "Materialize all")."""

import warnings

import dagster as dg

from dagster_labeling._dagster.assets import asset_check_like, partition_key_of

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01")


def test_only_partitioned_assets_and_their_checks_read_the_runs_partition():
    seen: dict[str, str | None] = {}

    @dg.asset(partitions_def=DAILY)
    def daily_labels(context: dg.AssetExecutionContext) -> None:
        seen["daily_labels"] = partition_key_of(context)

    @dg.asset(deps=[daily_labels])
    def ab_test(context: dg.AssetExecutionContext) -> None:
        seen["ab_test"] = partition_key_of(context)

    @dg.asset_check(asset=ab_test)
    def ab_test_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        seen["ab_test_check"] = partition_key_of(context)
        return dg.AssetCheckResult(passed=True)

    with warnings.catch_warnings():
        warnings.simplefilter("error", dg.PreviewWarning)  # silenced where the choice is made, not printed

        @asset_check_like(daily_labels)
        def daily_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            seen["daily_check"] = partition_key_of(context)
            return dg.AssetCheckResult(passed=True)

    assert daily_check.partitions_def == DAILY

    with dg.instance_for_test() as instance:
        assert dg.materialize([daily_labels, ab_test, ab_test_check], partition_key="2026-11-03",
                              instance=instance).success
        assert dg.materialize([daily_labels, daily_check], partition_key="2026-11-04", instance=instance).success
    assert seen == {"daily_labels": "2026-11-04", "ab_test": None, "ab_test_check": None,
                    "daily_check": "2026-11-04"}
