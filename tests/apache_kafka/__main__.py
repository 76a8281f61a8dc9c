from tests.apache_kafka import main

raise SystemExit(main())
