"""The tutorial's snippet for analysing exclusion patterns in the sample metadata, runnable.

    python examples/analyze_excluded_samples.py data/demo/metadata/plastic_500hz_metadata.json [OUT_DIR]

Run it after `generate_tracin_exclusions.py --update-metadata`. It writes
`excluded_angles.png` (histogram of the angles of excluded recordings) and
`excluded_influence_scores.png` (histogram of their average influence) into OUT_DIR
(default: the current folder), and prints where they went. Below the marked line is the
snippet of the users' original tutorial ("分析元數據中的排除模式"; docs/tutorial.zh-TW.md, section 9) verbatim, except that the
metadata path comes from the command line; it is kept verbatim on purpose, as a test that
the metadata shape still fits what users wrote. Its Chinese titles need no set-up here:
`make` taught the venv's matplotlib the Noto Sans TC font (utils/cjk_font.py).
"""
import os
import sys

if len(sys.argv) not in (2, 3):
    sys.exit(f"usage: {sys.argv[0]} METADATA_JSON [OUT_DIR]")
METADATA_FILE = os.path.abspath(sys.argv[1])
if len(sys.argv) == 3:
    os.makedirs(sys.argv[2], exist_ok=True)
    os.chdir(sys.argv[2])


# ---- the tutorial's snippet (only the path in open() differs) ----
import json
import matplotlib.pyplot as plt

# 加載元數據
with open(METADATA_FILE, 'r') as f:
    metadata = json.load(f)

# 提取被排除的樣本
excluded_samples = {k: v for k, v in metadata.items() if v.get('excluded')}

# 分析角度分佈
angles = [sample['angle'] for sample in excluded_samples.values()]
plt.hist(angles, bins=36)
plt.title('排除樣本的角度分佈')
plt.xlabel('角度')
plt.ylabel('樣本數')
plt.savefig('excluded_angles.png')

# 分析影響力分數
influence_scores = [sample.get('tracin_info', {}).get('average_influence', 0)
                    for sample in excluded_samples.values()]
plt.figure()
plt.hist(influence_scores, bins=20)
plt.title('排除樣本的平均影響力分數')
plt.xlabel('影響力分數')
plt.ylabel('樣本數')
plt.savefig('excluded_influence_scores.png')
# ---- end of the snippet ----

for name in ('excluded_angles.png', 'excluded_influence_scores.png'):
    print(f"wrote {os.path.abspath(name)}")
