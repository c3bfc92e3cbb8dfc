import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;
import{fstatSync,writeSync}from"node:fs";function notice(line,env=process.env){let fd=Number(env.NDT_NOTICE_FD);if(!Number.isInteger(fd)||fd<3)return!1;try{return fstatSync(fd),writeSync(fd,`${line}
`),!0}catch{return!1}}export{notice};
