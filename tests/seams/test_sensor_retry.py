"""RunWatch: a sensor whose requested run fails does not lose its event — the run is requested again on a later
tick (a new run_key), at most max_attempts runs in all, then the tick says it gave up."""

import dagster as dg

from dagster_labeling._dagster.sensors import RUN_ATTEMPT_TAG, RUN_EVENT_TAG, ReportedOnce, RunWatch, tick_result

FAILURES = {"left": 0}


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def flaky(context: dg.AssetExecutionContext) -> None:
    """Fails while FAILURES["left"] > 0 (one failure per run)."""
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("the platform was down")
    context.log.info(f"handled {context.run.tags.get('event')}")


def event_sensor(events: list[str], max_attempts: int = 3) -> dg.SensorDefinition:
    """Reports each event once (ReportedOnce) with a run of ``flaky`` in partition ``a``, watched by RunWatch."""

    @dg.sensor(name="events", target=flaky)
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        reported = ReportedOnce(context.cursor, "done")
        watch = RunWatch(context, "events", context.cursor, max_attempts=max_attempts)
        requests = []
        for event in reported.new(events, report_existing=True):
            reported.mark(event)
            requests.append(watch.request(dg.RunRequest(run_key=f"events:{event}", partition_key="a",
                                                        tags={"event": event})))
        return tick_result(context, reported.cursor(), requests=requests, nothing="No new events.", watch=watch)

    return _sensor


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None
         ) -> tuple[list[dg.RunRequest], str, str | None]:
    """(run requests, new cursor, skip message) of one tick."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as ctx:
        result = sensor(ctx)
        if isinstance(result, dg.SkipReason):
            assert ctx.cursor is not None
            return [], ctx.cursor, result.skip_message
    assert isinstance(result, dg.SensorResult) and result.cursor is not None
    return list(result.run_requests or []), result.cursor, None


def launch(request: dg.RunRequest, instance: dg.DagsterInstance) -> bool:
    """What the daemon launches for the request: a run of the target with its partition and tags."""
    return dg.materialize([flaky], partition_key=request.partition_key, tags=request.tags, instance=instance,
                          raise_on_error=False).success


def test_a_failed_run_is_requested_again_on_the_next_tick_until_it_succeeds() -> None:
    FAILURES["left"] = 1
    sensor = event_sensor(["e1"])
    instance = dg.DagsterInstance.ephemeral()
    [first], cursor, _ = tick(sensor, instance, None)
    assert first.run_key == "events:e1" and first.tags[RUN_ATTEMPT_TAG] == "1"
    assert first.tags[RUN_EVENT_TAG] == "events:events:e1" and first.tags["event"] == "e1"
    requests, cursor, _ = tick(sensor, instance, cursor)
    assert requests == []  # not launched yet: still watched, nothing to retry
    assert not launch(first, instance)
    [second], cursor, _ = tick(sensor, instance, cursor)
    assert second.run_key == "events:e1:attempt-2" and second.partition_key == "a"
    assert second.tags["event"] == "e1" and second.tags[RUN_ATTEMPT_TAG] == "2"
    assert launch(second, instance)
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and skip == "No new events."
    assert tick(sensor, instance, cursor)[0] == []


def test_a_run_that_keeps_failing_is_requested_at_most_max_attempts_times() -> None:
    FAILURES["left"] = 100
    sensor = event_sensor(["e1", "e2"], max_attempts=3)
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor, _ = tick(sensor, instance, None)
    assert [r.run_key for r in requests] == ["events:e1", "events:e2"]
    keys = []
    for _ in range(5):
        keys += [r.run_key for r in requests]
        for request in requests:
            assert not launch(request, instance)
        requests, cursor, skip = tick(sensor, instance, cursor)
        if not requests:
            break
    assert sorted(keys) == ["events:e1", "events:e1:attempt-2", "events:e1:attempt-3",
                            "events:e2", "events:e2:attempt-2", "events:e2:attempt-3"]
    assert skip is not None and "Gave up on 2 run(s) after 3 attempt(s)" in skip and "events:e1" in skip
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and skip == "No new events."  # given up once, then forgotten
    FAILURES["left"] = 0


def test_a_canceled_run_is_requested_again() -> None:
    sensor = event_sensor(["e1"])
    instance = dg.DagsterInstance.ephemeral()
    [first], cursor, _ = tick(sensor, instance, None)
    FAILURES["left"] = 0
    assert launch(first, instance)
    [record] = instance.get_run_records(dg.RunsFilter(tags={RUN_EVENT_TAG: first.tags[RUN_EVENT_TAG]}))
    instance.report_run_canceled(record.dagster_run)  # as if it had been canceled instead
    assert instance.get_run_by_id(record.dagster_run.run_id).status == dg.DagsterRunStatus.CANCELED
    [again], cursor, _ = tick(sensor, instance, cursor)
    assert again.run_key == "events:e1:attempt-2"


def test_without_an_instance_the_watch_only_remembers() -> None:
    sensor = event_sensor(["e1"])
    with dg.build_sensor_context() as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests or []) == 1
    with dg.build_sensor_context(cursor=result.cursor) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)


def test_max_attempts_must_be_positive() -> None:
    with dg.build_sensor_context() as ctx:
        try:
            RunWatch(ctx, "s", None, max_attempts=0)
        except ValueError as exc:
            assert "max_attempts" in str(exc)
        else:
            raise AssertionError("max_attempts=0 accepted")
