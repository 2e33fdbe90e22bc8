"""Checks that Python code generated from Protos/ speaks the daemon's protocol.

Generates the Python modules with `protoc --python_out` into a temporary directory, then either
round-trips every envelope in Python (no arguments) or, with --echo, reads a serialised
regionspot.v1.Request on stdin and writes the RecognizeReply a daemon could give for it on
stdout (Tests/PipelineProtocolTests run that against the Swift code). Needs only `protobuf`
(see Tools/install-python-client-deps.sh); no ZeroMQ.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOS = os.path.join(ROOT, "Protos")


def generate(directory):
    files = [os.path.join("regionspot", "v1", name) for name in ("regionspot.proto", "pipeline.proto")]
    subprocess.run(["protoc", f"--proto_path={PROTOS}", f"--python_out={directory}", *files], check=True, cwd=PROTOS)
    sys.path.insert(0, directory)
    from regionspot.v1 import pipeline_pb2, regionspot_pb2
    return regionspot_pb2, pipeline_pb2


def round_trip(pb, pipeline):
    request = pb.Request(recognize=pb.RecognizeRequest(
        request_id="r-1", image=b"\x89PNG\r\n\x1a\n", vocabulary=["cat", "dog"], top_k=2, masks=True,
        deadline_ms=1500, boxes=[pb.Box(x0=1, y0=2, x1=30.5, y1=40, score=0.5), pb.Box(x0=0, y0=0, x1=8, y1=8)]))
    parsed = pb.Request.FromString(request.SerializeToString())
    assert parsed == request and parsed.WhichOneof("kind") == "recognize", parsed
    recognize = parsed.recognize
    assert recognize.WhichOneof("image_source") == "image"
    assert recognize.boxes[0].HasField("score") and not recognize.boxes[1].HasField("score")

    by_path = pb.Request(recognize=pb.RecognizeRequest(request_id="r-2", image_path="/images/a.jpg",
                                                       vocabulary_name="lvis", proposals=pb.PROPOSALS_SAM))
    assert pb.Request.FromString(by_path.SerializeToString()).recognize.image_path == "/images/a.jpg"

    reply = pb.Reply(recognize=pb.RecognizeReply(
        request_id="r-1", status=pb.Status(code=pb.OK), image_width=64, image_height=48,
        regions=[pb.Region(box=pb.Box(x0=1, y0=2, x1=30.5, y1=40), mask_score=0.9,
                           labels=[pb.Label(name="cat", index=0, score=0.75)],
                           mask=pb.RLE(size=[48, 64], counts="PPYo1"))],
        timings=pb.Timings(total_ms=12.5, image_embedding_cache_hit=True)))
    assert pb.Reply.FromString(reply.SerializeToString()) == reply
    error = pb.Reply(error=pb.ErrorReply(status=pb.Status(code=pb.INVALID_ARGUMENT, message="request: not a Request")))
    assert pb.Reply.FromString(error.SerializeToString()).error.status.code == 3

    for message in (pb.Request(health=pb.HealthRequest(request_id="h")),
                    pb.Request(register_vocabulary=pb.RegisterVocabularyRequest(name="pets", class_names=["cat"]))):
        assert pb.Request.FromString(message.SerializeToString()) == message

    work = pipeline.BrokerMessage(work=pipeline.WorkItem(
        request_id="r-1", item_id=7, deadline_unix_ms=1_700_000_000_000, attempt=2,
        fuse=pipeline.FuseTask(tensors=b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", top_k=3)))
    assert pipeline.BrokerMessage.FromString(work.SerializeToString()) == work
    ready = pipeline.WorkerMessage(ready=pipeline.Ready(stage=pipeline.STAGE_FUSE, worker_id="host:1", credit=4))
    assert pipeline.WorkerMessage.FromString(ready.SerializeToString()) == ready


def echo(pb):
    """The reply a daemon could give: one region per box, labelled with the vocabulary in turn."""
    request = pb.Request.FromString(sys.stdin.buffer.read())
    recognize = request.recognize
    regions = []
    for index, box in enumerate(recognize.boxes):
        name = recognize.vocabulary[index % len(recognize.vocabulary)]
        regions.append(pb.Region(box=box, mask_score=box.score if box.HasField("score") else 0,
                                 labels=[pb.Label(name=name, index=index % len(recognize.vocabulary), score=0.5)]))
    reply = pb.Reply(recognize=pb.RecognizeReply(request_id=recognize.request_id, status=pb.Status(code=pb.OK),
                                                 regions=regions, timings=pb.Timings(total_ms=recognize.deadline_ms)))
    sys.stdout.buffer.write(reply.SerializeToString())


def main():
    with tempfile.TemporaryDirectory() as directory:
        pb, pipeline = generate(directory)
        if sys.argv[1:] == ["--echo"]:
            echo(pb)
        else:
            round_trip(pb, pipeline)
            import google.protobuf
            print(f"python protobuf {google.protobuf.__version__}: round trips ok")


if __name__ == "__main__":
    main()
