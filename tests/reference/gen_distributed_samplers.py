#!/usr/bin/python3
"""The reference of tests/core/data/distributed_sampler_test.cpp, made at test time.

    /usr/bin/python3 tests/reference/gen_distributed_samplers.py OUT.txt

Writes, for a table of cases, one line per case and rank:
    DistributedSampler N NUM_REPLICAS RANK SHUFFLE(0/1) SEED EPOCH : INDICES...
    DistributedGroupSampler FLAGS(comma-separated) SAMPLES_PER_GPU NUM_REPLICAS RANK SEED EPOCH : INDICES...
the indices each rank gets from MMDetection 2.x's
DistributedSampler and DistributedGroupSampler (mmdet/datasets/samplers/distributed_sampler.py
and group_sampler.py at v2.25). mmdet itself is not installed here, so their __iter__ is written
out below step for step with PyTorch (torch.Generator seeded epoch + seed, torch.randperm), which
is what the ranks' orders depend on.
"""

import math
import sys

import numpy as np
import torch


def distributed_sampler(n, num_replicas, rank, shuffle, seed, epoch):
    num_samples = math.ceil(n / num_replicas)
    total_size = num_samples * num_replicas
    if shuffle:
        g = torch.Generator()
        g.manual_seed(epoch + seed)
        indices = torch.randperm(n, generator=g).tolist()
    else:
        indices = torch.arange(n).tolist()
    indices = (indices * math.ceil(total_size / len(indices)))[:total_size]
    assert len(indices) == total_size
    indices = indices[rank:total_size:num_replicas]
    assert len(indices) == num_samples
    return indices


def distributed_group_sampler(flags, samples_per_gpu, num_replicas, rank, seed, epoch):
    flag = np.array(flags, dtype=np.uint8)
    group_sizes = np.bincount(flag)
    num_samples = 0
    for size in group_sizes:
        num_samples += int(math.ceil(size * 1.0 / samples_per_gpu / num_replicas)) * samples_per_gpu
    total_size = num_samples * num_replicas
    g = torch.Generator()
    g.manual_seed(epoch + seed)
    indices = []
    for i, size in enumerate(group_sizes):
        if size > 0:
            indice = np.where(flag == i)[0]
            assert len(indice) == size
            indice = indice[list(torch.randperm(int(size), generator=g).numpy())].tolist()
            extra = int(math.ceil(size * 1.0 / samples_per_gpu / num_replicas)
                        ) * samples_per_gpu * num_replicas - len(indice)
            tmp = indice.copy()
            for _ in range(extra // size):
                indice.extend(tmp)
            indice.extend(tmp[:extra % size])
            indices.extend(indice)
    assert len(indices) == total_size
    indices = [indices[j] for i in list(torch.randperm(len(indices) // samples_per_gpu, generator=g))
               for j in range(i * samples_per_gpu, (i + 1) * samples_per_gpu)]
    offset = num_samples * rank
    indices = indices[offset:offset + num_samples]
    assert len(indices) == num_samples
    return [int(i) for i in indices]


def main():
    cases = []
    for n, replicas in [(10, 3), (7, 2), (1, 4), (12, 1)]:
        for shuffle in (True, False):
            for seed, epoch in [(0, 0), (0, 1), (7, 3)]:
                for rank in range(replicas):
                    indices = distributed_sampler(n, replicas, rank, shuffle, seed, epoch)
                    cases.append(f"DistributedSampler {n} {replicas} {rank} {int(shuffle)} {seed} "
                                 f"{epoch} : " + " ".join(map(str, indices)))
    group_flags = [
        [0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1],  # groups of 4 and 9
        [1, 1, 1, 1, 1],                          # group 0 empty
        [0, 1, 0],
    ]
    for flags in group_flags:
        for spg, replicas in [(2, 3), (1, 2), (3, 1)]:
            for seed, epoch in [(0, 0), (5, 2)]:
                for rank in range(replicas):
                    indices = distributed_group_sampler(flags, spg, replicas, rank, seed, epoch)
                    cases.append(f"DistributedGroupSampler {','.join(map(str, flags))} {spg} "
                                 f"{replicas} {rank} {seed} {epoch} : " + " ".join(map(str, indices)))
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(cases) + "\n")
    print("wrote", len(cases), "cases")


if __name__ == "__main__":
    main()
