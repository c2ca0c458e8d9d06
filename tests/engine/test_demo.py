import pandas as pd

from pynomaly import demo


def test_demo_data_is_the_same_every_time():
    pd.testing.assert_frame_equal(demo.server_metrics(), demo.server_metrics())
    pd.testing.assert_frame_equal(demo.payments(), demo.payments())


def test_server_metrics_has_a_week_of_minutes_with_a_few_incidents():
    df = demo.server_metrics()
    assert len(df) == 7 * 24 * 60
    assert df["timestamp"].is_monotonic_increasing
    assert 0.005 < df["incident"].mean() < 0.05
    # Incidents must stand out: CPU or latency or memory or errors far from normal.
    normal, incident = df[df.incident == 0], df[df.incident == 1]
    z = (
        incident.drop(columns=["timestamp", "incident"])
        - normal.mean(numeric_only=True).drop("incident")
    ).abs()
    assert (z / normal.std(numeric_only=True).drop("incident") > 3).any(axis=1).mean() > 0.8


def test_payments_has_four_percent_fraud_and_a_categorical_column():
    df = demo.payments()
    assert df["is_fraud"].mean() == 0.04
    assert df["merchant_category"].nunique() == 6
