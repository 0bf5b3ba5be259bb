"""The shape of a Wenjuanxing data push, as the official sample shows it.

``{"activity":"5657754","name":"问卷名称","timetaken":"528","submittime":"2016-08-23
10:01:59","q1":"1","q2":"测试","q3":"1,2","joinid":"101812480275","totalvalue":"15",
"sign":"..."}`` (``https://www.showdoc.com.cn/wjxopenapi/7664690808275512``). Every value
is a string. Questions are keyed ``q<n>``: a single choice carries the option's 1-based
index, a multiple choice the indexes joined by commas, a text question its text. A
custom link parameter comes along as ``sojumpparm``. ``submittime`` is Beijing time with
no zone; China has kept UTC+8 without daylight saving since 1991, so a fixed offset is
exact and needs no tz database.

Sub-question keys such as ``q5_1`` (matrix rows) are accepted as answers too: the doc
does not show them, but they are the question-key form Wenjuanxing's exports use.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone

QUESTION_KEY = re.compile(r"^q\d+(?:_\d+)*$")
LINK_PARAM = "sojumpparm"  # 自定义链接参数, forwarded with the push
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
METADATA = ("activity", "name", "timetaken", "submittime", "joinid", "index", "totalvalue", "sign")

__all__ = ["BEIJING", "LINK_PARAM", "METADATA", "QUESTION_KEY", "TIME_FORMAT"]
