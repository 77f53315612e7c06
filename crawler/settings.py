"""Scrapy settings of sina-finance-hexo, and the one home of every project setting's
default.  Every project setting is documented in docs/settings.md; any of them can
be overridden with ``-s NAME=value``."""

BOT_NAME = "sina_finance_hexo"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# --- Project settings (read once into crawler.config at start) -------------------
# Every default is here and nowhere else. An output file (SINA_OUTPUT_FILE; template:
# settings/output.yaml) sets the HEXO_*/STATE_DB/MANIFEST ones under its own keys, over
# these, under -s on the command line.
SINA_SECTIONS_FILE = None  # None: the packaged settings/sections.yaml
SINA_OUTPUT_FILE = None  # a YAML file of output keys (posts_dir, images, …); None: none
HEXO_POSTS_DIR = "output/source/_posts"  # the source/_posts of a Hexo site (relative: to where the crawl starts)
STATE_DB = "output/state.sqlite"  # one row per article written (SQLite, WAL)
MANIFEST = "output/manifest.jsonl"  # one JSON line per post written or updated
HEXO_IMAGES = "remote"  # "remote" (as the post format says) or "local" (stored beside each post)
HEXO_IMAGE_HOSTS = ["*.sinaimg.cn", "*.sina.com.cn", "*.sina.cn"]  # HEXO_IMAGES=local: only from these hosts
HEXO_IMAGES_MAX_PER_POST = 100  # local images one post may store; the rest stay remote
HEXO_IMAGES_MAX_BYTES_PER_RUN = 2 * 1024**3  # bytes of images one run may store (2 GiB)
HEXO_IMAGE_URLS = "relative"  # HEXO_IMAGES=local: "relative" (the file name) or "root" (from the site root)
# HEXO_IMAGE_URLS=root: the Hexo site's permalink and root, and the TZ `hexo generate` runs in.
HEXO_SITE_PERMALINK = ":year/:month/:day/:title/"  # Hexo's default
HEXO_SITE_ROOT = "/"  # Hexo's default
HEXO_SITE_TZ = "Asia/Shanghai"  # Sina's dates are Beijing's: build the blog with TZ=Asia/Shanghai
# HEXO_IMAGES=local: requests per second to each image host, evenly spaced, in a download
# slot of their own (IMAGE_SLOT below), apart from the article hosts' slots and AutoThrottle.
SINA_IMAGE_HOST_RATE = 4.0
HEXO_BODY = "clean"  # "clean" (publishable) or "sample" (the 2022 chain's body: post format §3 rule 8)
HEXO_FRONT_MATTER_EXTRAS: list[str] = []  # some of "excerpt", "tags", "updated": front-matter lines after the sample's
HEXO_KEEP_DAYS = None  # retention: remove our posts older than this many days (-a keep_days); None: off
HEXO_KEEP_POSTS = None  # retention: keep only the newest this many of our posts (-a keep_posts); None: off
HEXO_FSYNC = True  # fsync each post before its rename (survives a power cut)
SINA_PARSE_WORKERS = 1  # worker processes parsing article pages beside the crawl; 0: in the crawl's process; auto
SINA_PARSE_TIMEOUT = 30  # seconds one page may be parsed for before it is skipped (parse_timeout)
# --- Several machines (docs/cluster.md); all unset: a crawl on its own -----
SINA_REDIS_URL = None  # redis://:password@host:6379/0: this crawl coordinates (or, worker spider, works for) a cluster
SINA_CLUSTER = "sina-finance-hexo"  # the cluster's name: one coordinator per name
SINA_HOST_RATE = 4.0  # requests per second per host, every process of the cluster together
SINA_WORKER_WAIT = 60  # seconds a worker waits for a coordinator before it stops
SINA_LOCK_WAIT = 60  # seconds a run waits for another run on the same posts folder
SINA_STOP_GRACE = 5.0  # seconds the downloads in flight get to end once a stop (SIGTERM, SIGINT) begins
SINA_STATS_FILE = None  # a path: the final stats of each run are written there as JSON

ITEM_PIPELINES = {
    "crawler.pipelines.post_paths.PostPathPipeline": 100,
    "crawler.pipelines.local_images.LocalImagesPipeline": 200,  # only when HEXO_IMAGES=local
    "crawler.pipelines.hexo_posts.HexoPostsPipeline": 500,
}
EXTENSIONS = {
    "crawler.extensions.runstate.RunState": 400,  # finishes the run the spider's start() opened
    "crawler.extensions.runsummary.RunSummary": 500,
    "crawler.extensions.runstate.RunHealth": 510,
    "crawler.extensions.loglines.LogLines": 520,  # Scrapy's robots.txt and max-size lines: once, one line
}
COMMANDS_MODULE = "crawler.commands"  # `scrapy crawl` exits non-zero when a run failed
LOGSTATS_INTERVAL = 60.0

# --- Network: the standard path, polite by default -------------------------------
# A real browser's User-Agent (Sina serves browsers) that still says who we are.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 sina-finance-hexo/0.1"
)
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.6",
}
ROBOTSTXT_OBEY = True
HTTPPROXY_ENABLED = True  # http_proxy / https_proxy / no_proxy are honoured
CONCURRENT_REQUESTS = 16
# A callback yields one item (or a page of requests): Scrapy starts this many workers
# per callback output, so 100 (the default) is pure overhead here.
CONCURRENT_ITEMS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25  # the floor under AutoThrottle's delay, per host
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 3
# 403 and 429 are how Sina says "slow down"; 5xx and timeouts are worth another try.
RETRY_HTTP_CODES = [403, 429, 500, 502, 503, 504, 522, 524, 408]
# A failure holds the whole host (its download slot), not one request: nothing is sent to it
# for max(backoff, Retry-After), and its download delay is raised to the backoff, decaying back
# to DOWNLOAD_DELAY / AutoThrottle's delay as it answers fine (crawler/downloadermiddlewares/retry.py).
RETRY_BACKOFF_BASE = 2.0  # backoff after a host's first failure, doubled per consecutive failure (+ jitter)
RETRY_BACKOFF_MAX = 120.0  # longest hold and delay, Retry-After included
DOWNLOADER_MIDDLEWARES = {
    # First of all, robots.txt included: what may be fetched for what (crawler/fetch_policy.py).
    "crawler.downloadermiddlewares.fetchpolicy.FetchPolicyMiddleware": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.downloadermiddlewares.retry.BackoffRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.downloadermiddlewares.metarefresh.HeadMetaRefreshMiddleware": 580,  # Scrapy's, reading the head only
    "crawler.downloadermiddlewares.fetchpolicy.PublicAddressMiddleware": 760,  # after HttpProxyMiddleware (750)
    # Last before the download: its process_exception sees a failure first (no network: stop).
    "crawler.downloadermiddlewares.network.NetworkCheckMiddleware": 990,
    # SINA_REDIS_URL only: the cluster's shared per-host budget, after robots.txt (100).
    "crawler.downloadermiddlewares.hostrate.SharedHostRateMiddleware": 120,
    # HEXO_IMAGES=local only: image requests paced per image host (SINA_IMAGE_HOST_RATE), after robots.txt.
    "crawler.downloadermiddlewares.imagerate.ImageHostRateMiddleware": 110,
}
# Names that resolve to a loopback, private, link-local or reserved address do not resolve.
TWISTED_DNS_RESOLVER = "crawler.resolver.PublicAddressResolver"
# Only the web: no file://, data:, s3:// or ftp:// download, whatever a page or API says.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "s3": None, "ftp": None}
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024  # a larger "article" is not an article: skipped as too_large
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
COOKIES_ENABLED = False  # nothing here needs a session; keeps requests independent
# HEXO_IMAGES=local follows an image's redirects, each checked by FetchPolicyMiddleware.
MEDIA_ALLOW_REDIRECTS = True
# Image requests share one download slot of their own (paced per host by SINA_IMAGE_HOST_RATE
# in crawler/downloadermiddlewares/imagerate.py, so no delay here): images neither wait behind
# the article host's AutoThrottle delay nor slow it down.
DOWNLOAD_SLOTS = {"sina-images": {"concurrency": 4, "delay": 0}}

# --- Browser: only for sections of kind "page" (crawler/browser.py) ---------------
SINA_BROWSER_EXECUTABLE = "/usr/bin/chromium"  # Debian's chromium; browser downloads are not used
SINA_BROWSER_IGNORE_HTTPS_ERRORS = False  # True only behind a TLS-intercepting proxy you trust
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000  # ms
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
# PLAYWRIGHT_LAUNCH_OPTIONS (unset): filled in by crawler/browser.py, which confines Chromium
# to Sina's hosts; a "proxy" given there (None: none) replaces the environment's, and
# --host-resolver-rules in its "args" come before the rule that fails every other name.

TELNETCONSOLE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
