from tests.support.apache_kafka import main

raise SystemExit(main())
