#!/usr/bin/env python3
"""Checks facemask_watch's JSON Lines (run with --frames) against a rendered video's ground truth
(tools/render_video.py). Standard library only.

  check_truth.py EVENTS.jsonl TRUTH.json [--forget 10] [--sprites]

Faces are matched to true people per frame by box IoU (>= MIN_IOU with the face crop's
rectangle); frames where a person's box overlaps another's are left out of the track mapping
(who is who is ambiguous there). Then, for every scenario:
  - each true person maps to exactly one track id and each track id to one person (no id
    switch, no track on something that is not a person), and each person is found in at least
    MIN_RECALL of the frames where the face is whole and sharp;
  - one enter per person, soon after the face appears;
  - exactly one alert per person not masked at the start (before the mask goes on, for one
    who puts it on), none for masked people;
  - one masked event per person who puts a mask on, soon after it is on; none otherwise;
  - one leave per person who left more than --forget frames before the end, none otherwise;
  - the summary's counts equal the truth's "expect".
--sprites (the 'sprites' scenario, every sprite alone for a frame): exactly one face a frame,
on the sprite, with the right label.
Exit status 0 when everything holds, 1 otherwise (each failure on stderr).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from evaluate import iou  # noqa: E402  (continuous coordinates, as facemask's boxes)

MIN_IOU = 0.3        # a face belongs to a person when its box overlaps the crop this much
SPRITE_IOU = 0.45    # ... and in the sprites check (one face, plain background)
MIN_RECALL = 0.9
ENTER_WITHIN = 10    # frames after the face is first whole for `enter` (from when it appears)
LEAVE_EARLY = 10     # frames before its last (partly drawn) frame a face may be lost at an edge
MASKED_WITHIN = 15   # frames after the mask is on for `masked`


def load(events_path):
    lines = [json.loads(l) for l in open(events_path)]
    frames = {l["frame"]: l["faces"] for l in lines if "faces" in l}
    events = [l for l in lines if "event" in l]
    summary = [l["summary"] for l in lines if "summary" in l]
    return frames, events, summary, len([l for l in lines if "faces" in l])


def best_person(face, people, f):
    best, who = 0.0, None
    for p in people:
        box = p["boxes"].get(str(f))
        if box:
            o = iou(face["box"], box)
            if o > best:
                best, who = o, p
    return best, who


def overlapped(p, people, f):
    box = p["boxes"][str(f)]
    return any(q is not p and str(f) in q["boxes"] and iou(box, q["boxes"][str(f)]) > 0 for q in people)


def check_sprites(frames, truth, bad):
    for p in truth["people"]:
        for f, box in p["boxes"].items():
            faces = frames.get(int(f), [])
            on = p["mask_on"] is not None and int(f) >= p["mask_on"]
            want = "masked" if p["masked"] or on else "not_masked"
            what = "%s%s at frame %s" % (p["sprite"], " with the mask" if on else "", f)
            if len(faces) != 1:
                bad.append("%s: %d faces, want 1" % (what, len(faces)))
            elif iou(faces[0]["box"], box) < SPRITE_IOU:
                bad.append("%s: face box %s, sprite %s" % (what, faces[0]["box"], box))
            elif faces[0]["label"] != want:
                bad.append("%s: label %s (p masked %s), want %s" % (what, faces[0]["label"], faces[0]["mask"], want))


def check_scenario(frames, events, summary, truth, a, bad):
    people = truth["people"]
    n = truth["frames"]
    tracks_of = {p["id"]: set() for p in people}
    person_of = {}
    seen = {p["id"]: set() for p in people}
    stray = 0
    for f, faces in frames.items():
        for face in faces:
            o, p = best_person(face, people, f)
            if p is None or o < MIN_IOU:
                if face["track"] > 0:
                    bad.append("frame %d: track %d on a box %s that is no person's" % (f, face["track"], face["box"]))
                stray += 1
                continue
            seen[p["id"]].add(f)
            if face["track"] > 0 and not overlapped(p, people, f):
                tracks_of[p["id"]].add(face["track"])
                person_of.setdefault(face["track"], set()).add(p["id"])
    for p in people:
        t = tracks_of[p["id"]]
        if len(t) != 1:
            bad.append("person %d (%s) has tracks %s, want exactly one" % (p["id"], p["sprite"], sorted(t)))
        whole = p["whole"]
        found = len([f for f in whole if f in seen[p["id"]]])
        if whole and found < MIN_RECALL * len(whole):
            bad.append("person %d found in %d of %d frames where it is whole" % (p["id"], found, len(whole)))
    for t, ps in person_of.items():
        if len(ps) != 1:
            bad.append("track %d is on people %s, want one" % (t, sorted(ps)))
    track_person = {t: next(iter(ps)) for t, ps in person_of.items() if len(ps) == 1}
    by = {}
    for e in events:
        if e["track"] not in track_person:
            bad.append("%s event of track %d, which is no person's" % (e["event"], e["track"]))
            continue
        by.setdefault((track_person[e["track"]], e["event"]), []).append(e["frame"])
    for p in people:
        i = p["id"]
        enter, alert = by.get((i, "enter"), []), by.get((i, "alert"), [])
        masked, leave = by.get((i, "masked"), []), by.get((i, "leave"), [])
        who = "person %d (%s)" % (i, p["sprite"])
        late = (min(p["whole"]) if p["whole"] else p["last"]) + ENTER_WITHIN
        if len(enter) != 1 or not p["first"] <= enter[0] <= late:
            bad.append("%s: enter at %s, want one in [%d, %d]" % (who, enter, p["first"], late))
        mask_moves = None if p["mask_on"] is None else p["mask_on"] - truth["mask_on_frames"] + 1
        if p["masked"]:
            if alert:
                bad.append("%s is masked and got alerts at %s" % (who, alert))
        elif len(alert) != 1:
            bad.append("%s is not masked: alerts at %s, want exactly one" % (who, alert))
        elif mask_moves is not None and alert[0] >= mask_moves:
            bad.append("%s: alert at %d, after the mask began to go on (%d)" % (who, alert[0], mask_moves))
        if mask_moves is None:
            if masked:
                bad.append("%s puts no mask on, masked events at %s" % (who, masked))
        elif len(masked) != 1 or not mask_moves <= masked[0] <= p["mask_on"] + MASKED_WITHIN:
            bad.append("%s puts a mask on at %d: masked events at %s, want one in [%d, %d]"
                       % (who, p["mask_on"], masked, mask_moves, p["mask_on"] + MASKED_WITHIN))
        last = p["last"]
        if last + a.forget + 1 < n:
            lo, hi = last + a.forget + 1 - LEAVE_EARLY, last + a.forget + 1
            if len(leave) != 1 or not lo <= leave[0] <= hi:
                bad.append("%s left after frame %d: leave at %s, want one in [%d, %d]" % (who, last, leave, lo, hi))
        elif last == n - 1 and leave:
            bad.append("%s stays to the end, leave at %s" % (who, leave))
    if len(frames) != n:
        bad.append("%d frame lines for %d frames" % (len(frames), n))
    s = summary[0] if len(summary) == 1 else {}
    want = dict(truth["expect"], frames=n, processed=n)
    got = {k: s.get(k) for k in want}
    if got != want:
        bad.append("summary %s, truth %s" % (got, want))
    ev = {}
    for e in events:
        ev[e["event"]] = ev.get(e["event"], 0) + 1
    print("%s: %d people, tracks %s, events %s, %d faces on no person" % (
        truth["scenario"], len(people), {i: sorted(t) for i, t in tracks_of.items()}, ev, stray))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("truth")
    ap.add_argument("--forget", type=int, default=10)
    ap.add_argument("--sprites", action="store_true")
    a = ap.parse_args()
    truth = json.load(open(a.truth))
    frames, events, summary, n_lines = load(a.events)
    bad = []
    if n_lines != len(frames):
        bad.append("%d frame lines, %d distinct frames" % (n_lines, len(frames)))
    if a.sprites:
        check_sprites(frames, truth, bad)
        print("%s: %d sprite placements" % (truth["scenario"], len(truth["people"])))
    else:
        check_scenario(frames, events, summary, truth, a, bad)
    for b in bad:
        print("FAIL: %s: %s" % (truth["scenario"], b), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
