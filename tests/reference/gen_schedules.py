#!/usr/bin/python3
"""Reference LR / momentum schedules for tests/plugins/schedulers/schedulers_test.cpp.

The test runs this script at test time (/usr/bin/python3, standard library only) and compares
detkit's policies against its output iteration by iteration:

    /usr/bin/python3 tests/reference/gen_schedules.py > schedules.json

The values are computed independently of detkit's C++ code, from the formulas of MMCV 1.7.2's
LR and momentum updater hooks as docs/mmdet-semantics.md sections 4.3-4.5 state them, with the
hooks driven the way MMCV's runners call them:

  EpochBasedRunner: before_run; per epoch before_train_epoch; per iteration before_train_iter,
                    then optimizer.step() reads the values (recorded here), then iter += 1.
  IterBasedRunner:  before_run; per iteration before_train_iter, step, iter += 1 (no epoch
                    hooks; runner.epoch is iter // iters_per_epoch).

The LR hook runs before the momentum hook (priorities 10 and 30). Each case prints the config
detkit reads (`optimizer`, `lr_config`, `momentum_config`, `runner`), the lr of every parameter
group (`groups`), the iterations per epoch, and the lr / momentum of each group at each
iteration.
"""
import json
import math
import sys


def annealing_cos(start, end, factor, weight=1.0):
    """From weight*start + (1-weight)*end at factor 0 down to end at factor 1, on a cosine."""
    return end + 0.5 * weight * (start - end) * (math.cos(math.pi * factor) + 1.0)


def annealing_linear(start, end, factor):
    return start + (end - start) * factor


def anneal(strategy, start, end, factor):
    return annealing_cos(start, end, factor) if strategy == 'cos' else annealing_linear(
        start, end, factor)


class Run:
    """The runner's position and limits."""

    def __init__(self, by_epoch, max_epochs, max_iters, iters_per_epoch):
        self.by_epoch = by_epoch
        self.max_epochs = max_epochs
        self.max_iters = max_iters
        self.iters_per_epoch = iters_per_epoch
        self.epoch = 0
        self.iter = 0


class Policy:
    """One LR or momentum policy as a hook; `key` is 'lr' or 'momentum'."""

    def __init__(self, cfg, key):
        self.cfg = dict(cfg)
        self.key = key
        self.name = self.cfg.pop('policy')
        lr = key == 'lr'
        default_by_epoch = self.name not in ('cyclic', 'OneCycle')
        self.by_epoch = self.cfg.get('by_epoch', default_by_epoch)
        self.warmup = self.cfg.get('warmup')
        self.warmup_iters = self.cfg.get('warmup_iters', 0)
        self.ratio = self.cfg.get('warmup_ratio', 0.1 if lr else 0.9)
        self.warmup_in_epochs = self.cfg.get('warmup_by_epoch', False)
        self.warmup_length = None if self.warmup_in_epochs else self.warmup_iters
        self.bases = []
        self.regular = []

    # ---- the value without warmup ----

    def target(self, base):
        absolute = 'min_lr' if self.key == 'lr' else 'min_momentum'
        ratio = absolute + '_ratio'
        return base * self.cfg[ratio] if ratio in self.cfg else self.cfg[absolute]

    def value(self, base, run):
        c = self.cfg
        p = run.epoch if self.by_epoch else run.iter
        total = run.max_epochs if self.by_epoch else run.max_iters
        name = self.name
        if name == 'Fixed':
            return base
        if name == 'step':
            step = c['step']
            steps = p // step if isinstance(step, int) else sum(1 for s in step if s <= p)
            gamma = c.get('gamma', 0.1 if self.key == 'lr' else 0.5)
            v = base * gamma**steps
            floor = c.get('min_lr' if self.key == 'lr' else 'min_momentum')
            return v if floor is None else max(v, floor)
        if name == 'Exp':
            return base * c['gamma']**p
        if name == 'poly':
            min_lr = c.get('min_lr', 0.0)
            return (base - min_lr) * (1 - p / total)**c.get('power', 1.0) + min_lr
        if name == 'Inv':
            return base * (1 + c['gamma'] * p)**(-c.get('power', 1.0))
        if name == 'CosineAnnealing':
            return annealing_cos(base, self.target(base), p / total)
        if name == 'LinearAnnealing':
            return annealing_linear(base, self.target(base), p / total)
        if name == 'FlatCosineAnnealing':
            start = round(total * c.get('start_percent', 0.75))
            if p < start:
                return base
            return annealing_cos(base, self.target(base), (p - start) / (total - start))
        if name == 'CosineRestart':
            periods = c['periods']
            weights = c.get('restart_weights', [1])
            ends = [sum(periods[:i + 1]) for i in range(len(periods))]
            i = next(k for k, end in enumerate(ends) if p < end)
            begin = ends[i - 1] if i > 0 else 0
            alpha = min((p - begin) / periods[i], 1)
            return annealing_cos(base, self.target(base), alpha, weights[i])
        if name == 'cyclic':
            return self.cyclic(base, run)
        if name == 'OneCycle':
            return self.one_cycle(base, run)
        raise ValueError(name)

    def cyclic(self, base, run):
        c = self.cfg
        default = [10, 1e-4] if self.key == 'lr' else [0.85 / 0.95, 1.0]
        ratio = c.get('target_ratio', default)
        if isinstance(ratio, (int, float)):
            ratio = [ratio]
        if len(ratio) == 1:
            ratio = [ratio[0], ratio[0] / 1e5]
        length = run.max_iters // c.get('cyclic_times', 1)
        up = int(c.get('step_ratio_up', 0.4) * length)
        inside = run.iter % length
        scale = c.get('gamma', 1.0)**(run.iter // length)
        peak = 1 - scale + ratio[0] * scale
        strategy = c.get('anneal_strategy', 'cos')
        if inside < up:
            return anneal(strategy, base, base * peak, inside / up)
        return anneal(strategy, base * peak, base * ratio[1], (inside - up) / (length - up))

    def one_cycle(self, base, run):
        c = self.cfg
        pct = c.get('pct_start', 0.3)
        strategy = c.get('anneal_strategy', 'cos')
        three = c.get('three_phase', False)
        if self.key == 'lr':
            steps = c.get('total_steps', run.max_iters)
            div = c.get('div_factor', 25.0)
            last = 1.0 / c.get('final_div_factor', 1e4)
            if three:
                phases = [(pct * steps - 1, 1, div), (2 * pct * steps - 2, div, 1),
                          (steps - 1, 1, last)]
            else:
                phases = [(pct * steps - 1, 1, div), (steps - 1, div, last)]
            phases = [(end, base * a, base * b) for end, a, b in phases]
        else:
            steps = run.max_iters
            low = c.get('base_momentum', 0.85)
            high = c.get('max_momentum', 0.95)
            if three:
                phases = [(pct * steps - 1, high, low), (2 * pct * steps - 2, low, high),
                          (steps - 1, high, high)]
            else:
                phases = [(pct * steps - 1, high, low), (steps - 1, low, high)]
        begin = 0.0
        for k, (end, a, b) in enumerate(phases):
            # The momentum's last phase also takes the iterations past its end.
            if run.iter <= end or (self.key == 'momentum' and k == len(phases) - 1):
                return anneal(strategy, a, b, (run.iter - begin) / (end - begin))
            begin = end
        raise ValueError('past the last phase')

    # ---- warmup ----

    def warmed(self, regular, it):
        f = it / self.warmup_length
        factor = {'constant': self.ratio,
                  'linear': 1 - (1 - f) * (1 - self.ratio),
                  'exp': self.ratio**(1 - f)}[self.warmup]
        return regular * factor if self.key == 'lr' else regular / factor

    # ---- hooks ----

    def before_run(self, groups, run):
        if self.name == 'OneCycle' and self.key == 'lr':
            peaks = self.cfg['max_lr']
            peaks = peaks if isinstance(peaks, list) else [peaks] * len(groups)
            self.bases = [m / self.cfg.get('div_factor', 25.0) for m in peaks]
        elif self.name == 'OneCycle':
            for g in groups:
                g['momentum'] = self.cfg.get('max_momentum', 0.95)
            self.bases = [g['momentum'] for g in groups]
        else:
            self.bases = [g[self.key] for g in groups]

    def before_train_epoch(self, groups, run):
        if self.warmup_length is None:
            self.warmup_length = self.warmup_iters * run.iters_per_epoch
        if self.by_epoch:
            self.regular = [self.value(b, run) for b in self.bases]
            for g, v in zip(groups, self.regular):
                g[self.key] = v

    def before_train_iter(self, groups, run):
        it = run.iter
        if not self.by_epoch:
            regular = [self.value(b, run) for b in self.bases]
            warm = self.warmup is not None and it < self.warmup_length
            for g, v in zip(groups, regular):
                g[self.key] = self.warmed(v, it) if warm else v
        elif self.warmup is not None and it <= self.warmup_length:
            for g, v in zip(groups, self.regular):
                g[self.key] = self.warmed(v, it) if it < self.warmup_length else v


def simulate(case):
    config = case['config']
    runner = config['runner']
    ipe = case['iters_per_epoch']
    by_epoch = runner['type'] == 'EpochBasedRunner'
    if by_epoch:
        run = Run(True, runner['max_epochs'], runner['max_epochs'] * ipe, ipe)
    else:
        run = Run(False, 0, runner['max_iters'], ipe)
    optimizer = config['optimizer']
    momentum = optimizer['betas'][0] if 'betas' in optimizer else optimizer.get('momentum', 0.0)
    groups = [{'lr': lr, 'momentum': momentum} for lr in case['groups']]
    policies = [Policy(config[k], k[:-len('_config')]) for k in ('lr_config', 'momentum_config')
                if config.get(k) is not None]
    for p in policies:
        p.before_run(groups, run)
    lrs, momenta = [], []

    def step():
        for p in policies:
            p.before_train_iter(groups, run)
        lrs.append([g['lr'] for g in groups])
        momenta.append([g['momentum'] for g in groups])
        run.iter += 1

    if by_epoch:
        for run.epoch in range(run.max_epochs):
            for p in policies:
                p.before_train_epoch(groups, run)
            for _ in range(ipe):
                step()
    else:
        while run.iter < run.max_iters:
            run.epoch = run.iter // ipe
            step()
    return dict(case, lr=lrs, momentum=momenta)


SGD = {'type': 'SGD', 'lr': 0.02, 'momentum': 0.9}
ADAM = {'type': 'Adam', 'lr': 0.0003, 'betas': [0.9, 0.999]}


def epochs(n):
    return {'type': 'EpochBasedRunner', 'max_epochs': n}


def iters(n):
    return {'type': 'IterBasedRunner', 'max_iters': n}


def case(name, lr_config, runner, ipe, optimizer=SGD, momentum_config=None, groups=None):
    config = {'optimizer': optimizer, 'lr_config': lr_config, 'runner': runner}
    if momentum_config is not None:
        config['momentum_config'] = momentum_config
    return {'name': name, 'config': config, 'iters_per_epoch': ipe,
            'groups': groups or [optimizer['lr']]}


CASES = [
    # MMDetection's 1x schedule with 60 iterations per epoch: the warmup outlasts the step at
    # epoch 8 (iteration 480), two parameter groups.
    case('step_1x', {'policy': 'step', 'step': [8, 11], 'warmup': 'linear', 'warmup_iters': 500,
                     'warmup_ratio': 0.001}, epochs(12), 60, groups=[0.02, 0.01]),
    case('step_interval_min_lr', {'policy': 'step', 'step': 3, 'gamma': 0.5, 'min_lr': 0.004,
                                  'warmup': 'constant', 'warmup_iters': 20}, epochs(10), 7),
    case('step_by_iter_exp_warmup', {'policy': 'step', 'step': [50, 80], 'by_epoch': False,
                                     'warmup': 'exp', 'warmup_iters': 30, 'warmup_ratio': 0.01},
         iters(100), 40),
    case('fixed_warmup_by_epoch', {'policy': 'Fixed', 'warmup': 'linear', 'warmup_iters': 2,
                                   'warmup_ratio': 0.2, 'warmup_by_epoch': True}, epochs(4), 10),
    case('exp', {'policy': 'Exp', 'gamma': 0.9}, epochs(6), 5),
    case('poly_by_iter', {'policy': 'poly', 'power': 0.9, 'min_lr': 1e-4, 'by_epoch': False,
                          'warmup': 'linear', 'warmup_iters': 10, 'warmup_ratio': 0.1},
         epochs(3), 20),
    case('inv', {'policy': 'Inv', 'gamma': 0.1, 'power': 0.75}, epochs(5), 4),
    case('cosine_by_epoch', {'policy': 'CosineAnnealing', 'min_lr_ratio': 1e-3}, epochs(5), 6),
    case('cosine_by_iter', {'policy': 'CosineAnnealing', 'min_lr': 1e-5, 'by_epoch': False},
         iters(50), 50),
    case('flat_cosine_half_to_even', {'policy': 'FlatCosineAnnealing', 'start_percent': 0.5,
                                      'min_lr': 0.0, 'by_epoch': False}, iters(101), 101),
    case('cosine_restart', {'policy': 'CosineRestart', 'periods': [30, 50, 20],
                            'restart_weights': [1, 0.5, 0.25], 'min_lr_ratio': 0.1,
                            'by_epoch': False}, iters(100), 100),
    case('linear_annealing', {'policy': 'LinearAnnealing', 'min_lr': 0.001}, epochs(4), 5),
    case('cyclic_two_cycles', {'policy': 'cyclic', 'cyclic_times': 2}, iters(100), 100,
         momentum_config={'policy': 'cyclic', 'cyclic_times': 2}),
    case('cyclic_gamma_linear', {'policy': 'cyclic', 'target_ratio': 5.0, 'cyclic_times': 3,
                                 'step_ratio_up': 0.3, 'anneal_strategy': 'linear',
                                 'gamma': 0.5}, epochs(3), 30,
         momentum_config={'policy': 'cyclic', 'target_ratio': [0.8, 1.0], 'cyclic_times': 3,
                          'step_ratio_up': 0.3, 'gamma': 0.5}),
    case('one_cycle', {'policy': 'OneCycle', 'max_lr': [0.1, 0.05]}, iters(100), 25,
         momentum_config={'policy': 'OneCycle'}, groups=[0.02, 0.01]),
    case('one_cycle_three_phase_adam', {'policy': 'OneCycle', 'max_lr': 0.003,
                                        'total_steps': 120, 'pct_start': 0.25,
                                        'div_factor': 10, 'final_div_factor': 100,
                                        'three_phase': True, 'anneal_strategy': 'linear'},
         iters(100), 50, optimizer=ADAM,
         momentum_config={'policy': 'OneCycle', 'base_momentum': 0.8, 'max_momentum': 0.9,
                          'pct_start': 0.25, 'three_phase': True}),
    case('step_momentum_warmup', {'policy': 'Fixed'}, epochs(6), 5,
         momentum_config={'policy': 'step', 'step': [2, 4], 'gamma': 0.5, 'min_momentum': 0.3,
                          'warmup': 'linear', 'warmup_iters': 6}),
    case('cosine_momentum_by_iter', {'policy': 'Fixed', 'by_epoch': False}, iters(40), 10,
         momentum_config={'policy': 'CosineAnnealing', 'min_momentum_ratio': 0.5,
                          'by_epoch': False}),
    case('linear_momentum_exp_warmup_adam', {'policy': 'CosineAnnealing', 'min_lr': 0.0},
         epochs(4), 8, optimizer=ADAM,
         momentum_config={'policy': 'LinearAnnealing', 'min_momentum': 0.8, 'warmup': 'exp',
                          'warmup_iters': 10, 'warmup_ratio': 0.5}),
]

if __name__ == '__main__':
    json.dump([simulate(c) for c in CASES], sys.stdout)
    sys.stdout.write('\n')
