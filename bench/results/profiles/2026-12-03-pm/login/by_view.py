"""Shares of a py-spy speedscope profile (--gil) by the view a sample is under, and the
heaviest functions inclusive: python by_view.py PROFILE.json [TOP]."""
import json, sys, collections
d = json.load(open(sys.argv[1]))
frames = d["shared"]["frames"]
tot = 0
by_view = collections.Counter(); incl = collections.Counter(); own = collections.Counter()
keys = sys.argv[2:] 
for prof in d["profiles"]:
    for s, w in zip(prof["samples"], prof["weights"]):
        names = [f'{frames[i]["name"]} ({frames[i].get("file","").split("site-packages/")[-1].replace("/work/wt/login/","").replace("/tmp/login-base/","")})' for i in s]
        if not any("wsgi_app" in n for n in names):
            by_view["<outside wsgi_app>"] += w; tot += w; continue
        tot += w
        view = next((n for n in names if ("views.py" in n or "authorize.py" in n or "service_endpoints.py" in n) and "wrapper" not in n and "__inner" not in n), "<machinery>")
        by_view[view.split(" (")[0]] += w
        seen=set()
        for n in names:
            if n not in seen: incl[n]+=w; seen.add(n)
        own[names[-1]] += w
print("total", tot)
for k,v in by_view.most_common(20): print(f"{100*v/tot:5.1f}% view {k}")
print()
for k,v in incl.most_common(int(keys[0]) if keys else 80): print(f"{100*v/tot:5.1f}% {k}")
