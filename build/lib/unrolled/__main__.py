from unrolled.cli import main

raise SystemExit(main())
