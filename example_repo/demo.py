"""Run the example pipeline against the local emulator, no API key needed, and print what happened.

    python -m example_repo.demo

1. starts the emulator on 127.0.0.1 (a free port) with tasks that complete within seconds;
2. day 1: materializes the whole pipeline, the batch asset waiting for completion (blocking mode);
3. day 2: materializes up to the batch and returns at once (sensor mode), then ticks the
   ``scale_batch_completed`` sensor until the batch completes and runs what it requests;
4. labels both days with an LLM on Refuel, sends the low-confidence labels to Argilla for human review
   and brings the reviewed answers back as a DataFrame;
5. fine-tunes a model on Scale LLM Engine on the two labeled days and prints its loss per epoch;
6. logs the reviewed labels to Adaptive ML as interactions with feedback, starts an A/B test of two assistant
   models, sends it simulated production traffic with feedback, lets the sensor report the winner and
   promotes it to the default model when the result is significant;
7. prints ids, counts, label distributions, and where the results are.
"""

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from dagster_labeling.testing import EmulatorServer

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

DEMO_DIR = Path(os.environ.get("DAGSTER_LABELING_DEMO_DIR", ".demo")).resolve()
DAYS = ("2026-11-01", "2026-11-02")


def _print_labels(day: str, result: dg.ExecuteInProcessResult) -> None:
    summary = result.output_for_node("label_summary")
    labels = result.output_for_node("review_sentiment_labels")
    check = result.get_asset_check_evaluations()[0]
    print(f"  {day}: {len(labels)} labeled reviews; label distribution "
          f"{dict(zip(summary['label'], summary['count'], strict=True))}; check {check.check_name} "
          f"{'passed' if check.passed else 'FAILED'} ({check.metadata['completed_share'].value:.0%} completed)")
    out = DEMO_DIR / f"labels_{day}.csv"
    labels.to_csv(out, index=False)
    print(f"  labels written to {out}")


def _adaptive_step(example: Any, resources: dict[str, Any], instance: dg.DagsterInstance,
                   refuel_assets: list[Any], review: list[Any]) -> None:
    """Reviewed labels → Adaptive interactions with feedback; an A/B test of two models → its winner."""
    from dagster_labeling.adaptive import AdaptiveClient

    print("\nFeedback and an A/B test on Adaptive ML")
    upstream = [*refuel_assets, *review]
    adaptive_assets = [example.adaptive_review_project, example.label_feedback, example.review_label_interactions]
    dg.materialize([example.adaptive_review_project], resources=resources, instance=instance, run_config=QUIET)
    for day in DAYS:
        result = dg.materialize([*upstream, *adaptive_assets], selection=adaptive_assets[1:], partition_key=day,
                                resources=resources, instance=instance, run_config=QUIET)
        feedback = result.output_for_node("label_feedback")
        meta = result.asset_materializations_for_node("review_label_interactions")[0].metadata
        print(f"  {day}: {meta['adaptive/logged'].value} reviewed labels logged as interactions, "
              f"{int(feedback['accepted'].sum())} of {len(feedback)} kept by people")
    result = dg.materialize([example.adaptive_review_project, example.assistant_ab_test],
                            selection=[example.assistant_ab_test], resources=resources, instance=instance,
                            run_config=QUIET)
    test_key = result.output_for_node("assistant_ab_test")
    print(f"  A/B test {test_key} of {' vs '.join(example.ASSISTANT_MODELS)} started; handed to the sensor")
    sensor = next(s for s in example.defs.sensors if s.name == "assistant_ab_test_done")
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        sensor(context)  # the first tick: the test is still running
        cursor = context.cursor
    with AdaptiveClient(os.environ["ADAPTIVE_API_KEY"], base_url=os.environ["ADAPTIVE_BASE_URL"]) as client:
        # Simulated production traffic: users accept qwen's answers more often than llama's.
        for i in range(24):
            for model, accepted in (("llama-3.1-8b-instruct", i % 2 == 0), ("qwen-2.5-7b", i % 5 != 0)):
                answer = client.chat(example.ADAPTIVE_PROJECT, [{"role": "user", "content": f"Review #{i}"}],
                                     model=model)
                client.log_metric(str(answer.completion_id), example.FEEDBACK_KEY, accepted)
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
            tick = sensor(context)
        if isinstance(tick, dg.SensorResult):
            for event in tick.asset_events:  # what the daemon does with a sensor's asset events
                instance.report_runless_asset_event(event)
                print(f"  sensor tick: {event.asset_key.to_user_string()} recorded with winner "
                      f"{event.metadata['adaptive/winner'].value}")
        test = client.get_ab_test(test_key)
        variants = ", ".join(f"{v.variant.key} {v.interval.middle:.2f}" for v in (test.report.variants
                             if test.report else []) if v.interval and v.interval.middle is not None)
        print(f"  {test.status}: winner {test.winner()} (acceptance {variants}; p-value "
              f"{test.report.p_value if test.report else float('nan'):.3f})")
    result = dg.materialize([example.assistant_ab_test, example.assistant_default_model],
                            selection=[example.assistant_default_model], resources=resources, instance=instance,
                            run_config=QUIET)
    meta = result.asset_materializations_for_node("assistant_default_model")[0].metadata
    print(f"  {'promoted' if meta['adaptive/promoted'].value else 'not promoted (not significant)'}: the project's "
          f"default model is now {result.output_for_node('assistant_default_model')}")


def main() -> int:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    server = EmulatorServer(port=0, platform_options={
        "scale": {"task_duration_seconds": 1.5},
        "llm-engine": {"fine_tune_pending_seconds": 0.5, "fine_tune_epoch_seconds": 0.5},
        "refuel": {"ingest_seconds": 0.3},
        "argilla": {"annotation_seconds": 1.0, "responses_per_record": 2},
        "adaptive": {"ab_min_scores": 20},
    })
    server.start()
    scale_url = server.platform_url("scale") + "/v1"
    os.environ["SCALE_API_KEY"] = server.platform("scale").api_key  # the emulator's demo key, not a secret
    os.environ["SCALE_BASE_URL"] = scale_url
    os.environ["LLM_ENGINE_BASE_URL"] = server.platform_url("llm-engine") + "/"
    os.environ["REFUEL_API_KEY"] = os.environ["ARGILLA_API_KEY"] = os.environ["SCALE_API_KEY"]
    os.environ["REFUEL_BASE_URL"] = server.platform_url("refuel")
    os.environ["ARGILLA_API_URL"] = server.platform_url("argilla")
    os.environ["ADAPTIVE_API_KEY"] = os.environ["SCALE_API_KEY"]
    os.environ["ADAPTIVE_BASE_URL"] = server.platform_url("adaptive")
    os.environ.setdefault("DAGSTER_LABELING_INBOX", str(DEMO_DIR / "inbox.db"))
    print(f"Emulator running at {server.url} (Scale v1 API at {scale_url})")

    from example_repo import definitions as example  # reads the environment set above

    io_manager = dg.FilesystemIOManager(base_dir=str(DEMO_DIR / "storage"))
    resources = {**example.defs.resources, "io_manager": io_manager}
    instance = dg.DagsterInstance.ephemeral()
    assets = [example.review_sentiment_project, example.refuel_review_project, example.raw_reviews,
              example.review_sentiment_batch, example.review_sentiment_labels, example.label_summary]
    try:
        day = DAYS[0]
        print(f"\nDay {day}: blocking mode (the batch asset waits for Scale)")
        result = dg.materialize(
            assets, partition_key=day, resources=resources, instance=instance,
            run_config={**QUIET, "ops": {"review_sentiment_batch": {"config": {"wait_for_completion": True,
                                                                                "poll_interval_seconds": 0.5}}}},
        )
        meta = result.asset_materializations_for_node("review_sentiment_batch")[0].metadata
        print(f"  batch {meta['scale/batch_name'].value}: {meta['scale/tasks_created'].value} tasks created, "
              f"state {meta['scale/batch_state'].value}, counts {meta['scale/status_counts'].value}")
        print(f"  batch page: {meta['scale/batch_url'].value}")
        _print_labels(day, result)

        day = DAYS[1]
        print(f"\nDay {day}: sensor mode (the batch asset returns at once)")
        dg.materialize(assets[:4], partition_key=day, resources=resources, instance=instance, run_config=QUIET)
        sensor = example.defs.resolve_sensor_def("scale_batch_completed")
        cursor = None
        requests: list[dg.RunRequest] = []
        deadline = time.monotonic() + 60
        while not requests and time.monotonic() < deadline:
            time.sleep(1.0)
            with dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources) as context:
                tick = sensor(context)
            cursor = tick.cursor
            requests = list(tick.run_requests or [])
            print(f"  sensor tick: {len(requests)} run request(s)"
                  + (f" ({tick.skip_reason.skip_message})" if tick.skip_reason else ""))
        if not requests:
            print("  the batch did not complete within 60 s", file=sys.stderr)
            return 1
        request = requests[0]
        print(f"  run requested: run_key={request.run_key}, partition={request.partition_key}")
        result = dg.materialize(assets, partition_key=request.partition_key, resources=resources,
                                instance=instance, run_config=QUIET, selection=[example.review_sentiment_labels,
                                                              example.label_summary])
        _print_labels(day, result)

        print("\nLLM labels on Refuel; the doubtful ones reviewed by people on Argilla")
        refuel_assets = [example.raw_reviews, example.reviews_refuel_dataset, example.review_llm_labels,
                         example.review_llm_confidence, example.low_confidence_reviews, example.review_queue]
        for index, day in enumerate(DAYS):
            dg.materialize(refuel_assets[:2], partition_key=day, resources=resources, instance=instance,
                           run_config=QUIET)
            if index == 0:
                dg.materialize([*refuel_assets[:2], example.refuel_review_task],
                               selection=[example.refuel_review_task], resources=resources, instance=instance,
                               run_config=QUIET)
            result = dg.materialize(refuel_assets, partition_key=day, resources=resources, instance=instance,
                                    selection=refuel_assets[2:], run_config=QUIET)
            meta = result.asset_materializations_for_node("review_llm_labels")[0].metadata
            doubtful = result.output_for_node("low_confidence_reviews")
            check = result.get_asset_check_evaluations()[0]
            print(f"  {day}: {meta['dagster/row_count'].value} reviews labeled by the LLM, mean confidence "
                  f"{meta['refuel/sentiment/mean_confidence'].value:.2f}, {len(doubtful)} below "
                  f"{example.CONFIDENT} sent to Argilla; check {check.check_name} "
                  f"{'passed' if check.passed else 'FAILED'}: {check.description}")
            if not check.passed:
                print("    (by design: this day's reviews are hard for the LLM, so the check warns, severity WARN, "
                      "and the doubtful labels go to people on Argilla below; nothing is wrong with the run)")
        from dagster_labeling import WaitOptions
        from dagster_labeling.argilla import ArgillaClient

        with ArgillaClient(os.environ["ARGILLA_API_KEY"], api_url=os.environ["ARGILLA_API_URL"]) as argilla:
            queue = argilla.get_dataset(example.REVIEW_QUEUE, workspace="reviews")
            argilla.progress_job(queue.id).wait(WaitOptions(timeout_seconds=120, poll_interval_seconds=0.5))
        review = [example.reviewed_labels, example.reviewed_labels_check]
        frames = []
        for day in DAYS:
            result = dg.materialize([*refuel_assets, *review], selection=review, partition_key=day,
                                    resources=resources, instance=instance, run_config=QUIET)
            frames.append(result.output_for_node("reviewed_labels"))
            check = result.get_asset_check_evaluations()[0]
            print(f"  {day}: {len(frames[-1])} records reviewed on Argilla, check {check.check_name} "
                  f"{'passed' if check.passed else 'FAILED'}")
        reviewed = pd.concat(frames, ignore_index=True)
        changed = int((reviewed["sentiment"] != reviewed["sentiment__suggestion"]).sum())
        print(f"  the reviewers changed {changed} of {len(reviewed)} LLM labels")
        out = DEMO_DIR / "reviewed_labels.csv"
        reviewed.to_csv(out, index=False)
        print(f"  reviewed labels written to {out}")

        print("\nFine-tuning on Scale LLM Engine with the labeled days")
        tuning = [example.sentiment_training_pairs, example.sentiment_training_file, example.sentiment_model]
        result = dg.materialize(
            [*assets, *tuning], selection=tuning, resources=resources, instance=instance,
            run_config={**QUIET, "ops": {"sentiment_model": {"config": {"poll_interval_seconds": 0.5}}}},
        )
        file_meta = result.asset_materializations_for_node("sentiment_training_file")[0].metadata
        model_meta = result.asset_materializations_for_node("sentiment_model")[0].metadata
        print(f"  training file {file_meta['llm_engine/file_id'].value}: "
              f"{file_meta['dagster/row_count'].value} prompt/response pairs")
        print(f"  fine-tune {model_meta['llm_engine/fine_tune_id'].value}: "
              f"{model_meta['llm_engine/state'].value} -> model {result.output_for_node('sentiment_model')}")
        for row in model_meta["llm_engine/loss_per_epoch"].value.records:
            print("   ", ", ".join(f"{k} {v:.3f}" if "loss" in k else f"{k} {v:g}" for k, v in row.data.items()))
        check = result.get_asset_check_evaluations()[0]
        print(f"  check {check.check_name}: {'passed' if check.passed else 'FAILED'}")

        _adaptive_step(example, resources, instance, refuel_assets, review)

        scale = server.platform("scale")
        print(f"\nOn the emulator: {scale.task_count()} Scale tasks in all")
        print(f"Dagster outputs (pickled DataFrames) under {DEMO_DIR / 'storage'}")
        emulator = "http://127.0.0.1:8765"
        print("Explore in the UI: `dagster-labeling emulate` in one terminal, then in another:\n"
              "  export SCALE_API_KEY=emulator-key REFUEL_API_KEY=emulator-key ARGILLA_API_KEY=emulator-key "
              "ADAPTIVE_API_KEY=emulator-key\n"
              f"  export SCALE_BASE_URL={emulator}/scale/v1 LLM_ENGINE_BASE_URL={emulator}/llm-engine/ "
              f"REFUEL_BASE_URL={emulator}/refuel ARGILLA_API_URL={emulator}/argilla "
              f"ADAPTIVE_BASE_URL={emulator}/adaptive\n"
              "  dagster dev -m example_repo.definitions")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
