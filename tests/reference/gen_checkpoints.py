#!/usr/bin/python3
"""Python side of detkit's checkpoint tests (tests/core/checkpoint), run at test time with
Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14).

  gen_checkpoints.py write DIR        .pth files written by torch.save, the malformed ones, and
                                      DIR/expected.txt: one line per tensor the reader must give
                                      ("<file> <key> <dtype> <shape> <hex of the contiguous bytes>")
  gen_checkpoints.py check FILE EXPECTED
                                      torch.load(FILE) (written by detkit): every tensor of
                                      EXPECTED (same line format, file column ignored) must come
                                      out exactly; prints the top-level keys and the meta as JSON
  gen_checkpoints.py torchvision DIR  state dicts of torchvision's retinanet_resnet50_fpn
                                      (80 classes) and resnet18, random weights (no download)
"""
import collections
import io
import json
import pickle
import sys
import zipfile

import numpy as np
import torch

DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}


def tensor_bytes(t):
    """The raw bytes of t in row-major order (bfloat16 through its int16 bits)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def manifest_line(file, key, t):
    shape = ",".join(str(s) for s in t.shape) or "-"
    return f"{file} {key} {DTYPE_NAMES[t.dtype]} {shape} {tensor_bytes(t).hex() or '-'}"


def small_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    model.train()
    model(torch.randn(2, 3, 3, 3))  # moves the BN running stats and num_batches_tracked
    return model


def dtype_tensors():
    g = torch.Generator().manual_seed(1)
    return collections.OrderedDict([
        ("f32", torch.randn(2, 3, generator=g)),
        ("f64", torch.randn(3, generator=g, dtype=torch.float64)),
        ("f16", torch.randn(2, 2, generator=g).half()),
        ("bf16", torch.randn(4, generator=g).bfloat16()),
        ("i64", torch.tensor([-(2 ** 62), -1, 0, 2 ** 62 + 7], dtype=torch.int64)),
        ("i32", torch.tensor([-5, 7], dtype=torch.int32)),
        ("i16", torch.tensor([-300, 300], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([[0, 255], [17, 3]], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("scalar", torch.tensor(3.5)),
        ("empty", torch.zeros(0, 3)),
    ])


def view_tensors():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return collections.OrderedDict([
        ("base", base),
        ("row", base[1]),           # offset 6, contiguous
        ("column", base[:, 2]),     # stride 6
        ("transposed", base.t()),   # strides (1, 6)
        ("block", base[1:3, 2:5]),  # offset 8, strides (6, 1)
        ("expanded", torch.tensor([1.0, 2.0]).expand(3, 2)),  # stride 0
        ("half_view", torch.arange(10, dtype=torch.float16)[::3]),
    ])


class StorageRef:
    """A storage reference for crafted pickles (persistent id written by CraftPickler)."""

    def __init__(self, key, numel, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class CraftedTensor:
    """Pickles as torch.save's _rebuild_tensor_v2 call, with any offset/size/stride."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class CraftPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def write_zip(path, pickle_bytes, records):
    """A torch.save-style archive: archive/data.pkl, archive/data/<key>, archive/version."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        for key, data in records.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", b"3\n")


def crafted(path, obj, records):
    buffer = io.BytesIO()
    CraftPickler(buffer, protocol=2).dump(obj)
    write_zip(path, buffer.getvalue(), records)


def write(out):
    lines = []
    model = small_model()

    def save(name, obj, expected, **kwargs):
        torch.save(obj, f"{out}/{name}", **kwargs)
        lines.extend(manifest_line(name, k, v) for k, v in expected.items())

    plain = {"weight": torch.nn.Parameter(torch.randn(3, 2)), "bias": torch.ones(3)}
    save("plain_dict.pth", plain, plain)
    save("ordered_dict.pth", model.state_dict(), model.state_dict())
    save("protocol4.pth", model.state_dict(), model.state_dict(), pickle_protocol=4)
    save("dtypes.pth", dtype_tensors(), dtype_tensors())
    save("views.pth", view_tensors(), view_tensors())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
    model(torch.randn(2, 3, 3, 3)).sum().backward()
    optimizer.step()
    wrapped = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    meta = {"mmdet_version": "2.25.0", "CLASSES": ("person", "car"), "epoch": 12, "iter": 7330,
            "lr": 0.02, "flag": True, "seed": None,
            "hook_msgs": {"last_ckpt": "work_dirs/epoch_12.pth",
                          "best_score": np.float64(0.375)},
            "config": "model = dict(type='RetinaNet')\n"}
    save("mmdet.pth", {"meta": meta, "state_dict": wrapped, "optimizer": optimizer.state_dict()},
         model.state_dict())

    # Files that are not checkpoints, or not ones detkit reads.
    torch.save(model.state_dict(), f"{out}/legacy.pth", _use_new_zipfile_serialization=False)
    torch.jit.script(torch.nn.Linear(2, 2)).save(f"{out}/torchscript.pt")
    torch.save([torch.ones(2)], f"{out}/list.pth")
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), f"{out}/whole_module.pth")
    torch.save({"model": {"w": torch.ones(2)}}, f"{out}/not_tensors.pth")
    with zipfile.ZipFile(f"{out}/plain.zip", "w") as z:
        z.writestr("readme.txt", "hello")

    # Crafted archives: a good one, then storages and views that lie about their sizes.
    good = StorageRef("0", 6)
    data = torch.arange(6, dtype=torch.float32).numpy().tobytes()
    crafted(f"{out}/crafted_good.pth", {"w": CraftedTensor(good, 1, (2, 2), (2, 1))}, {"0": data})
    lines.append(manifest_line("crafted_good.pth", "w",
                               torch.arange(6.0)[1:5].reshape(2, 2)))
    cases = {
        "huge_storage": (StorageRef("0", 2 ** 40), 0, (4,), (1,)),
        "negative_storage": (StorageRef("0", -1), 0, (1,), (1,)),
        "past_end": (good, 0, (10,), (1,)),
        "offset_past_end": (good, 7, (1,), (1,)),
        "stride_overflow": (good, 0, (3,), (2 ** 62,)),
        "negative_stride": (good, 5, (2,), (-1,)),
        "huge_broadcast": (good, 0, (2 ** 40,), (0,)),
        "missing_record": (StorageRef("9", 6), 0, (6,), (1,)),
        "rank_mismatch": (good, 0, (2, 3), (1,)),
    }
    for name, (storage, offset, size, stride) in cases.items():
        crafted(f"{out}/{name}.pth", {"w": CraftedTensor(storage, offset, size, stride)},
                {"0": data})

    # Deep nesting (100000 lists inside one another) and a list that contains itself, as meta.
    depth = 100000
    meta_x = b"\x80\x02}(X\x04\x00\x00\x00meta}(X\x01\x00\x00\x00x"  # {"meta": {"x": ...
    end = b"uX\x0a\x00\x00\x00state_dict}u."  # ...}, "state_dict": {}}
    write_zip(f"{out}/deep.pth", meta_x + b"]" * depth + b"a" * (depth - 1) + end, {})
    cycle = meta_x + b"]q\x00h\x00a" + end
    write_zip(f"{out}/cycle.pth", cycle, {})
    # An opcode torch.save never writes (PERSID, text form) and a pickle without STOP.
    write_zip(f"{out}/bad_opcode.pth", b"\x80\x02P0\n.", {})
    write_zip(f"{out}/no_stop.pth", b"\x80\x02}", {})

    with open(f"{out}/expected.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


def check(path, expected_path):
    ckpt = torch.load(path)
    if not isinstance(ckpt, dict):
        sys.exit(f"{path}: torch.load gave a {type(ckpt).__name__}, not a dict")
    state = ckpt["state_dict"] if "state_dict" in ckpt else ckpt
    with open(expected_path) as f:
        expected = [line.split() for line in f if line.strip()]
    if [e[1] for e in expected] != list(state.keys()):
        sys.exit(f"keys differ: {list(state.keys())} != {[e[1] for e in expected]}")
    for _, key, dtype, shape, data in expected:
        line = manifest_line("-", key, state[key]).split()
        if line[2:] != [dtype, shape, data]:
            sys.exit(f"{key}: got {line[2:]}, expected {[dtype, shape, data]}")
    print(json.dumps(list(ckpt.keys())))
    if "meta" in ckpt:
        print(json.dumps(ckpt["meta"]))


def torchvision_state_dicts(out):
    import torchvision
    torch.manual_seed(0)
    retinanet = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=80)
    torch.save(retinanet.state_dict(), f"{out}/retinanet_resnet50_fpn.pth")
    torch.save(torchvision.models.resnet18().state_dict(), f"{out}/resnet18.pth")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "write":
        write(sys.argv[2])
    elif command == "check":
        check(sys.argv[2], sys.argv[3])
    elif command == "torchvision":
        torchvision_state_dicts(sys.argv[2])
    else:
        sys.exit(f"unknown command {command}")
