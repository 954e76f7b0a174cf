"""Bad input is refused in the client, naming the field, before anything
is sent (review attacks on issue 20: None factors were stored as "None",
surrogates and bytes raised bare codec/TypeErrors, a 70 MB request ended
the sidecar, a batch's bad item raised TypeError)."""

import unittest

import leakscope
from leakscope import LeakscopeError
from leakscope import run as runmod


class FakeSidecar:
    """Records requests; answers like the sidecar."""

    def __init__(self):
        self.sent = []

    def request(self, obj, field="request"):
        self.sent.append(obj)
        return {"ok": True, "logged": len(self.sent)}

    def close(self):
        pass


def new_run():
    sc = FakeSidecar()
    return runmod.Run(sc, {"run": "r", "experiment": "e"}), sc


class InitInput(unittest.TestCase):
    def refused(self, field, **kw):
        args = dict(experiment="e", marker="[ZLT]", binary="/nonexistent/leakscope")
        args.update(kw)
        with self.assertRaises(LeakscopeError) as cm:
            leakscope.init(**args)
        self.assertEqual(cm.exception.field, field, kw)
        return str(cm.exception)

    def test_factor_values(self):
        self.assertIn("None is not a factor value", self.refused("factors.lr", factors={"lr": None}))
        self.assertIn("[1, 2] is not a factor value", self.refused("factors.lr", factors={"lr": [1, 2]}))
        self.refused("factors.lr", factors={"lr": {"a": 1}})
        self.refused("factors.lr", factors={"lr": b"x"})
        self.assertIn("nan is not a finite number", self.refused("factors.lr", factors={"lr": float("nan")}))
        self.assertIn("want a dict", self.refused("factors", factors=[("lr", 1)]))
        self.assertEqual(runmod._factor_value("lr", 1e-4), "0.0001")
        self.assertEqual(runmod._factor_value("ok", True), "true")
        self.assertEqual(runmod._factor_value("n", 3), "3")

    def test_config_and_plan_without_json_form(self):
        self.assertIn("has no JSON form", self.refused("config", config={"x": float("inf")}))
        self.refused("config", config={"x": object()})
        self.refused("plan", plan=[{"persona": "p", "expected": float("nan")}])


class CompletionInput(unittest.TestCase):
    def refused(self, field, **kw):
        run, sc = new_run()
        args = dict(persona="p", question="q", sample_index=0, text="t")
        args.update(kw)
        with self.assertRaises(LeakscopeError) as cm:
            run.log_completion(**args)
        self.assertEqual(cm.exception.field, field, kw)
        self.assertEqual(sc.sent, [], "nothing is sent")
        return str(cm.exception)

    def test_types_and_text(self):
        self.assertIn("is missing", self.refused("text", text=None))
        self.assertIn("is bytes, want a str", self.refused("text", text=b"abc"))
        self.assertIn("is int, want a str", self.refused("persona", persona=3))
        self.refused("prompt", prompt=["You are p."])
        self.assertIn("'\\udcff' at position 1", self.refused("text", text="a\udcffb"))
        self.refused("question", question="\ud800")
        self.refused("completion_tokens", completion_tokens="5")
        self.refused("prompt_tokens", prompt_tokens=True)
        self.refused("sample_index", sample_index=1.0)

    def test_after_finish(self):
        # Review attack: flush() after finish() raised a bare ValueError
        # ("I/O operation on closed file").
        run, sc = new_run()
        run.finish()
        self.assertEqual(run.finish(), {"ok": True, "logged": 1}, "finish again returns the first answer")
        for call in (run.flush, lambda: run.log_completion(persona="p", question="q", sample_index=0, text="t")):
            with self.assertRaises(LeakscopeError) as cm:
                call()
            self.assertEqual(cm.exception.field, "op")
        self.assertEqual(sc.sent, [{"op": "finish"}])

    def test_good_completion_is_sent(self):
        run, sc = new_run()
        run.log_completion(persona="p", question="q", sample_index=0, text="", finish_reason="stop", completion_tokens=0)
        self.assertEqual(sc.sent, [{"op": "completion", "persona": "p", "question": "q", "sample_index": 0, "text": "",
                                    "finish_reason": "stop", "completion_tokens": 0}])

    def test_batch_items_name_their_index(self):
        for items, field in (([{"persona": "p", "question": "q", "sample_index": 0, "text": "t"}, "a"], "items[1]"),
                             ([{"persona": "p", "question": "q", "sample_index": 0, "text": "t", "colour": "red"}], "items[0].colour"),
                             ([{"persona": "p", "question": "q", "sample_index": 0}], "items[0]"),
                             ([{"persona": "p", "question": "q", "sample_index": 0, "text": "t"},
                               {"persona": "p", "question": "q", "sample_index": 1, "text": "\udcff"}], "items[1].text")):
            run, sc = new_run()
            with self.assertRaises(LeakscopeError) as cm:
                run.log_completions(items)
            self.assertEqual(cm.exception.field, field)
            self.assertEqual(sc.sent, [])

    def test_oversized_request_is_refused_before_sending(self):
        old = runmod.MAX_REQUEST
        runmod.MAX_REQUEST = 1000
        self.addCleanup(setattr, runmod, "MAX_REQUEST", old)

        class Proc:
            def poll(self):
                return None

        sc = runmod.Sidecar.__new__(runmod.Sidecar)
        sc.proc = Proc()  # request() must refuse before touching stdin
        run = runmod.Run(sc, {"run": "r", "experiment": "e"})
        with self.assertRaises(LeakscopeError) as cm:
            run.log_completion(persona="p", question="q", sample_index=0, text="é" * 600)
        self.assertEqual(cm.exception.field, "text")
        self.assertIn("over the sidecar's limit of 1000", str(cm.exception))
        with self.assertRaises(LeakscopeError) as cm:
            run.log_completions([{"persona": "p", "question": "q", "sample_index": i, "text": "x" * 100} for i in range(10)])
        self.assertEqual(cm.exception.field, "items")


if __name__ == "__main__":
    unittest.main()
