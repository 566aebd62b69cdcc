from matplotlib import pyplot as plt

from regeo.figures.common import palette, register_colors


def test_palette_stays_distinct_past_twenty_and_keeps_the_first_ten():
    assert len(set(palette(30))) == 30  # the paper config: 14 subsets plus external runs, and more
    names = [f"s{i:02d}" for i in range(10)]
    tab10 = plt.get_cmap("tab10")
    assert register_colors(names) == {name: tab10(i) for i, name in enumerate(names)}
