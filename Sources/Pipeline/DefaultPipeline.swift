extension PipelineConfiguration {
    /// The name errors give the built-in topology.
    public static let localFileName = "Pipelines/local.yaml (built in)"

    /// Pipelines/local.yaml, built into the executable so that `regionspot serve` needs no file
    /// from the source tree; PipelineTests check that the two stay identical.
    public static let localYAML = """
# The default topology of `regionspot serve`: everything in one process, stages connected
# over inproc://. Every key is required except `batching`, `metrics` and `proposals`; an unknown key, a
# missing one or a bad value stops the daemon at start with this file's name, the line and the key.
# Sizes are bytes, written as a whole number or with a unit: B, KB, MB, GB (powers of 1000),
# KiB, MiB, GiB (powers of 1024). Times are whole milliseconds.

frontend:
  # The ZeroMQ endpoint clients connect to (a ROUTER socket). Bind 127.0.0.1 unless clients on
  # other machines must reach it, and then use CURVE (`serve --curve-secret FILE --curve-allow DIR`,
  # keys from `regionspot keys generate`); binding beyond loopback without it logs a warning.
  # `serve --bind` overrides it.
  bind: tcp://127.0.0.1:5555
  # The deadline of a request whose `deadline_ms` is 0. Past its deadline a request is answered
  # with DEADLINE_EXCEEDED at once and its work is dropped from the queues.
  default_deadline_ms: 30000

heartbeat:
  # Broker and workers send each other a heartbeat this often, also while a worker computes.
  interval_ms: 1000
  # A worker (or broker) silent for this many intervals is dead: its work goes to another
  # worker of the same stage, once.
  liveness: 3

limits:
  # The largest frame a client may send (ZMQ_MAXMSGSIZE); a larger one disconnects that client
  # only. It bounds the encoded image.
  max_message_size: 32MiB
  # The most pixels (width × height) a decoded image may have; guards against decompression bombs.
  max_image_pixels: 50000000
  # The most boxes in one request.
  max_boxes: 1000
  # The most classes in one vocabulary (LVIS has 1,203).
  max_classes: 2000

# The three stages: localize (SAM) and semantic (CLIP) run on the image side by side, then fuse
# (the RegionSpot module) combines their outputs.
stages:
  localize:
    # Workers `regionspot serve` runs in its own process. 0 leaves the stage to
    # `regionspot worker` processes connecting to `endpoint` (which must then be tcp://).
    workers: 1
    # Compute threads of each of those workers. Together the stages' threads should not exceed
    # the machine's cores.
    threads: 2
    # Where the broker binds this stage's socket for its workers.
    endpoint: inproc://regionspot.localize
    # Work items that may wait for a worker of this stage; when the queue is full, new requests
    # get RESOURCE_EXHAUSTED at once.
    queue_limit: 64
    # Optional, localize and fuse only: boxes of concurrent requests computed together. A worker
    # then holds up to 16 items; the first waits up to `max_wait_ms` for others (none once
    # `max_boxes` boxes wait), and the items taken, up to `max_boxes` boxes (at least one item),
    # make one batch: fuse requests share one pass of the fusion module (attention stays within
    # each image); localize requests on the same image share its embedding, but each request's
    # boxes get SAM decoder passes of their own (sharing them moves the numbers by ~1e-6).
    # Results are bit for bit those of unbatched runs. Without it, each request runs on its own.
    # batching:
    #   max_boxes: 256
    #   max_wait_ms: 2
  semantic:
    workers: 1
    threads: 2
    endpoint: inproc://regionspot.semantic
    queue_limit: 64
    # (No batching: CLIP encodes one image at a time.)
  fuse:
    workers: 1
    threads: 1
    endpoint: inproc://regionspot.fuse
    queue_limit: 64

caches:
  # SAM image embeddings and CLIP token maps, least recently used out, by the SHA-256 the broker
  # computes of the image bytes a client sends (about 4.8 MB per image for ViT-B models), shared
  # by the workers of this process: a request about an image seen before runs only SAM's decoder
  # and fusion, and its reply's timings say `image_embedding_cache_hit` and `token_map_cache_hit`.
  # 0 disables it. (`regionspot worker` processes keep their own: `--image-cache-mib`.)
  image_embeddings: 1GiB
  # Class embeddings of vocabularies given in requests, by classes and templates (also on disk
  # under `--cache-dir`). About 2.5 MB for LVIS's 1,203 classes at 512 dimensions. 0 disables it.
  # Vocabularies registered with RegisterVocabulary are kept apart, all of them, in memory and
  # under `--cache-dir`/vocabularies/MODEL_ID (this bundle's), across restarts.
  class_embeddings: 256MiB

# Optional: an HTTP server (host:port) with Prometheus /metrics, /healthz (alive) and /readyz (200
# once warmed up with a live worker per stage, else 503 and why); `serve --metrics-bind` overrides
# it. It is not authenticated: keep it on loopback or a monitoring network.
# metrics:
#   bind: 127.0.0.1:9100

# Optional: SAM's automatic mask generator, for requests with `proposals: PROPOSALS_SAM` and no
# boxes. Its keys are segment-anything's SamAutomaticMaskGenerator parameters (`regionspot
# predict`'s --points-per-side… options), each optional; shown with their defaults. Each proposal
# is then recognized as a sent box would be, its box and predicted IoU (as the box's score) in
# the reply. At most `limits.max_boxes` proposals are kept: beyond it, those of highest predicted
# IoU, in the generator's order (the localize worker logs how many it dropped).
# proposals:
#   points_per_side: 32
#   points_per_batch: 64
#   pred_iou_thresh: 0.88
#   stability_score_thresh: 0.95
#   stability_score_offset: 1.0
#   box_nms_thresh: 0.7
#   crop_n_layers: 0
#   crop_nms_thresh: 0.7
#   crop_overlap_ratio: 0.3413333333333333
#   crop_n_points_downscale_factor: 1
#   min_mask_region_area: 0

"""

    /// The built-in default topology: everything in one process.
    public static func local() throws -> PipelineConfiguration {
        try PipelineConfiguration(yaml: localYAML, file: localFileName)
    }
}
