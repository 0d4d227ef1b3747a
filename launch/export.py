"""Export a saved training step (a DeepSpeed checkpoint, ZeRO-2 or ZeRO-3) as a Hugging Face model folder.

    python launch/export.py --checkpoint runs/x/checkpoints/step_000500 --out exported/step_000500
    python launch/export.py --checkpoint runs/x/checkpoints/step_000100 --out DIR --model-files models/phi-1_5

The folder gets the weights in the training dtype, config.json, the tokenizer and the
prompt-format record (from the run's best/, or --model-files), and mft_step.json (the step).
Runs on CPU: the ZeRO shards of every rank are read from disk, no GPU or launcher needed.
"""
from __future__ import annotations

import os
import sys

from mft.scripts import fail, script_parser


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__, prog="launch/export.py")
    parser.add_argument("--checkpoint", required=True, help="a step folder: <output_dir>/checkpoints/step_000500")
    parser.add_argument("--out", required=True, help="the model folder to write (replaced if it exists)")
    parser.add_argument("--model-files", default=None,
                        help="folder with config.json and the tokenizer (default: the run's best/)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    from data_pipeline import DataError
    from data_pipeline.prompt_format import FILE as PROMPT_FORMAT_FILE
    from mft.checkpoint_export import ExportError, export_checkpoint

    try:
        out = export_checkpoint(args.checkpoint, args.out, model_files=args.model_files)
    except (ExportError, DataError) as exc:
        return fail(exc)
    if not (out / PROMPT_FORMAT_FILE).is_file():
        print(f"mft: warning: {out} has no {PROMPT_FORMAT_FILE} (its model files had none): evaluate.py will give this "
              "model raw prompts unless --prompt-format chat", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
